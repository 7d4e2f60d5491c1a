"""Regression values on real collections: a SciFact slice (../shared/data) and bundled Cranfield.

The full SciFact run (all 300 test queries) is `make scifact`; it must stay within 0.005 of
Anserini's BEIR flat regression, nDCG@10 = 0.6789.
"""

import json

import pytest

from conftest import full_pipeline


def run_pipeline(sparse, *encode_args):
    enc, metrics = full_pipeline(sparse, *encode_args)
    return json.loads((enc / "manifest.json").read_text()), metrics


def test_scifact_slice_through_data_root(sparse, shared_data, monkeypatch):
    monkeypatch.setenv("SPARSECLI_DATA_ROOT", str(shared_data))
    manifest, metrics = run_pipeline(sparse, "data=scifact", "data.max_queries=50")
    assert manifest["docs"]["rows"] == 5183 and manifest["vocab_size"] == 28865
    assert manifest["data"]["source"] == str(shared_data / "ir" / "scifact" / "beir")
    assert metrics == pytest.approx(
        {"nDCG@10": 0.7810394458336399, "RR@10": 0.7695238095238095, "R@100": 0.976, "R@1000": 0.98}, abs=1e-9
    )


def test_bundled_cranfield_demo(sparse):
    manifest, metrics = run_pipeline(sparse, "data=cranfield")
    assert manifest["docs"]["rows"] == 1398 and manifest["collection"]["empty_docs"] == 2
    assert manifest["queries"]["rows"] == 225
    assert metrics == pytest.approx(
        {
            "nDCG@10": 0.5004398779640666,
            "RR@10": 0.7754867724867726,
            "R@100": 0.7414582786105474,
            "R@1000": 0.9559112324607255,
        },
        abs=1e-9,
    )
