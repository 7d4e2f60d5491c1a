"""Compose the shipped configs with Hydra's compose API, as Hydra's own app tests do."""

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from sparsecli import config as schemas
from sparsecli.errors import ConfigError
from sparsecli.hydra_app import available_options, key_config, register
from sparsecli.rundir import compute_key


@pytest.fixture(autouse=True)
def composer(runs):
    register()
    with initialize_config_module(config_module="sparsecli.conf", version_base="1.3"):
        yield


def load(command, *overrides):
    cfg = compose(config_name=command, overrides=list(overrides))
    return cfg, OmegaConf.to_object(cfg)


@pytest.mark.parametrize("name", sorted(available_options("data") - {"beir", "msmarco", "irds"}))
def test_every_named_dataset_composes_and_validates(name):
    _, conf = load("encode", f"data={name}")
    assert isinstance(conf, schemas.EncodeConfig) and isinstance(conf.data, schemas.DataConfig)
    assert conf.data.name == name and isinstance(conf.encoder, schemas.BM25Config)


def test_scifact_points_at_public_sources_and_a_local_copy():
    _, conf = load("encode", "data=scifact")
    assert conf.data.format == schemas.DataFormat.irds and conf.data.irds_id == "beir/scifact/test"
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
    cfg, _ = load("encode", "data=scifact")
    key = compute_key("encode", key_config(cfg))
    assert key == compute_key(
        "encode", key_config(load("encode", "data=scifact", "runtime.threads=1", "runtime.force=true")[0])
    )
    assert key != compute_key("encode", key_config(load("encode", "data=scifact", "encoder.k1=1.2")[0]))
    assert key != compute_key("index", key_config(cfg))
    assert len(key) == 16
