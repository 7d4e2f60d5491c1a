"""Adds user config folders to Hydra's search path: ./conf and $SPARSECLI_CONF entries.

That is where lab presets live (e.g. `conf/experiment/*.yaml`, `conf/data/mycollection.yaml`);
they extend the configs shipped in the sparsecli package.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SparsecliSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from sparsecli.runs.groups import extra_conf_dirs

        for folder in extra_conf_dirs():
            search_path.append(provider="sparsecli", path=f"file://{folder}")
