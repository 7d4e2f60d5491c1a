"""Retrieval: indexes over document vectors and top-k search over them.

One package per algorithm, each holding its config classes (options of the `index` and
`search` groups, registered on import here), its build, its search and its numba kernels:
`exact/` (inverted index; term-at-a-time or MaxScore) and `seismic/` (approximate).
Shared by both: `ranking.py` (results and query batching) and `sparsecli.kernels.topk`.
"""

from sparsecli.retrieval.exact import config as _exact  # noqa: F401  (registers index=exact, search=exact)
from sparsecli.retrieval.seismic import config as _seismic  # noqa: F401  (registers index=seismic, search=approx)
