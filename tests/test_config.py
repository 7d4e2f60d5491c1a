"""Compose the shipped configs with Hydra's compose API, as Hydra's own app tests do."""

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from sparsecli.commands import get
from sparsecli.data.config import DataConfig, DataFormat
from sparsecli.encode.bm25.config import BM25Config
from sparsecli.errors import ConfigError
from sparsecli.retrieval.exact.config import ExactAlgorithm, ExactSearchConfig
from sparsecli.retrieval.seismic.config import ApproxSearchConfig
from sparsecli.runs.bridge import register
from sparsecli.runs.groups import options_for
from sparsecli.runs.keys import run_key

from conftest import TINY


@pytest.fixture(autouse=True)
def composer(runs):
    register()
    with initialize_config_module(config_module="sparsecli.conf", version_base="1.3"):
        yield


def load(command, *overrides):
    cfg = compose(config_name=command, overrides=list(overrides))
    return cfg, OmegaConf.to_object(cfg)


def key(command, *overrides):
    return run_key(get(command), load(command, *overrides)[1])[0]


@pytest.mark.parametrize("name", sorted(options_for(get("encode"), "data") - {"beir", "msmarco", "irds"}))
def test_every_named_dataset_composes_and_validates(name):
    _, conf = load("encode", f"data={name}")
    assert isinstance(conf, get("encode").schema) and isinstance(conf.data, DataConfig)
    assert conf.data.name == name and isinstance(conf.encoder, BM25Config)


@pytest.mark.parametrize("name", sorted(options_for(get("train-rec"), "data") - {"atomic", "p5", "interactions"}))
def test_every_named_interaction_dataset_composes_for_train_rec(name):
    from sparsecli.recommend.data.config import RecDataConfig

    _, conf = load("train-rec", f"data={name}", "model=sasrec")
    assert isinstance(conf.data, RecDataConfig) and conf.data.name == name and conf.data.local_path == f"rec/{name}"


def test_the_data_group_lists_each_command_its_own_datasets():
    assert {"scifact", "msmarco"} <= options_for(get("encode"), "data")
    assert not {"ml-100k", "p5-beauty", "atomic"} & options_for(get("encode"), "data")
    assert options_for(get("train-rec"), "data") == {
        "atomic",
        "diginetica",
        "interactions",
        "ml-100k",
        "p5",
        "p5-beauty",
    }


def test_scifact_points_at_public_sources_and_a_local_copy():
    _, conf = load("encode", "data=scifact")
    assert conf.data.format == DataFormat.irds and conf.data.irds_id == "beir/scifact/test"
    assert conf.data.hf.qrels.path == "BeIR/scifact-qrels" and conf.data.hf.qrels.split == "test"
    assert conf.data.local.path == "ir/scifact/beir"
    assert conf.data.drop_self and load("encode", "data=arguana")[1].data.drop_self
    assert not load("encode", "data=msmarco-passage-dev")[1].data.drop_self


def test_defaults_reproduce_anserini():
    _, conf = load("encode", "data=scifact")
    assert (conf.encoder.k1, conf.encoder.b, conf.encoder.variant.value) == (0.9, 0.4, "lucene")
    assert conf.encoder.analyzer.stemmer.value == "porter" and conf.encoder.analyzer.stopwords == "lucene"
    _, search = load("search", "index_run=x")
    assert search.search.k == 1000
    _, ev = load("eval", "search_run=x")
    assert ev.eval.measures == ["nDCG@10", "RR@10", "R@100", "R@1000"]


def test_each_search_option_is_its_own_schema():
    """A group field is typed by its base class; an option brings only its own fields."""
    _, exact = load("search", "index_run=x")
    assert type(exact.search) is ExactSearchConfig and exact.search.algorithm == ExactAlgorithm.taat
    _, approx = load("search", "index_run=x", "search=approx_r95")
    assert type(approx.search) is ApproxSearchConfig and (approx.search.query_cut, approx.search.k) == (
        5,
        1000,
    )  # presets keep k
    with pytest.raises(ConfigCompositionException):
        compose(config_name="search", overrides=["index_run=x", "search=approx", "search.algorithm=maxscore"])
    with pytest.raises(ConfigCompositionException):
        compose(config_name="search", overrides=["index_run=x", "search.query_cut=3"])


def test_type_errors_fail_at_composition():
    with pytest.raises(ConfigCompositionException, match="encoder.k1"):
        compose(config_name="encode", overrides=["data=scifact", "encoder.k1=abc"])
    with pytest.raises(ConfigCompositionException, match="stemmer"):
        compose(config_name="encode", overrides=["data=scifact", "encoder.analyzer.stemmer=lancaster"])


def test_range_errors_fail_when_the_task_builds_its_config():
    with pytest.raises(ConfigError, match="encoder.b"):
        load("encode", "data=scifact", "encoder.b=1.5")
    with pytest.raises(ConfigError, match="data.path"):
        load("encode", "data=beir")


def test_run_key_ignores_runtime_and_follows_the_config():
    base = key("encode", "data=scifact")
    assert base == key("encode", "data=scifact", "runtime.threads=1", "runtime.force=true")
    assert base != key("encode", "data=scifact", "encoder.k1=1.2")
    assert len(base) == 16


def test_run_key_holds_content_not_locations(tmp_path, monkeypatch):
    """A relative path, its absolute twin and a copy of the collection give one key; an
    edited file changes it; encoder.shard_size (how the work is cut) never counts."""
    import shutil

    monkeypatch.chdir(TINY.parent)
    relative = key("encode", "data=beir", "data.path=tiny")
    assert relative == key("encode", "data=beir", f"data.path={TINY}")
    copy = tmp_path / "copy"
    shutil.copytree(TINY, copy)
    assert relative == key("encode", "data=beir", f"data.path={copy}")
    with open(copy / "corpus.jsonl", "a") as corpus:
        corpus.write('{"_id": "new", "text": "one more"}\n')
    assert relative != key("encode", "data=beir", f"data.path={copy}")
    model = ["encoder=splade", "encoder.model=bert-base-uncased"]
    assert key("encode", "data=beir", "data.path=tiny", *model, "encoder.shard_size=7") == key(
        "encode", "data=beir", "data.path=tiny", *model
    )


def test_a_field_added_late_stays_out_of_the_key_at_its_default():
    from sparsecli.encode.lsr.config import LSRConfig, SideConfig, SparseFormat
    from sparsecli.schema import as_dict
    from sparsecli.sparsity.config import OneShot

    config = LSRConfig(model="m", doc=SideConfig(model="m"), query=SideConfig(model="m", max_length=64))
    assert "sparse_format" not in as_dict(config)  # encode runs made before it keep their keys
    config.sparse_format = SparseFormat.csr
    assert as_dict(config)["sparse_format"] == "csr"
    assert "layer_types" not in as_dict(OneShot())
    assert as_dict(OneShot(layer_types=["linear", "embedding"]))["layer_types"] == ["linear", "embedding"]
