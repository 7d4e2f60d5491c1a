import gzip
import shutil

import pytest

from sparsecli.data.config import DataConfig, DataFormat, FilesConfig, HFConfig, HFTableConfig, LocalCopyConfig, OnEmpty
from sparsecli.data.collection import checked_docs, load_queries
from sparsecli.data.source import open_source
from sparsecli.errors import ConfigError, InputError

from conftest import TINY


def beir(path, split="test", **kwargs) -> DataConfig:
    return DataConfig(name="t", format=DataFormat.beir, path=str(path), split=split, **kwargs)


def docs_of(config, on_empty=OnEmpty.error):
    return list(checked_docs(open_source(config, None), on_empty, ["title", "text"], {}))


def test_beir_folder_and_queries_restricted_to_the_split():
    source = open_source(beir(TINY), None)
    docs = docs_of(beir(TINY))
    assert [d.doc_id for d in docs][:3] == ["d1", "d2", "d3"] and len(docs) == 10
    assert docs[0].where.endswith("corpus.jsonl:1")
    query_set = load_queries(source)
    assert [q.query_id for q in query_set.queries] == ["q1", "q2", "q3"]  # q4 has no judgments
    assert query_set.qrels[0][:3] == ("q1", "d1", 2) and query_set.qrels[0].where.endswith("test.tsv:2")
    assert query_set.report == {
        "queries_in_file": 4,
        "judged_without_text": 0,
        "queries": 3,
        "empty_queries": 0,
        "qrels": 4,
    }


def test_gzipped_files_and_no_split(tmp_path):
    for name in ("corpus.jsonl", "queries.jsonl"):
        with gzip.open(tmp_path / f"{name}.gz", "wb") as out:
            out.write((TINY / name).read_bytes())
    query_set = load_queries(open_source(beir(tmp_path, split=None), None))
    assert len(query_set.queries) == 4 and query_set.qrels is None
    assert len(docs_of(beir(tmp_path, split=None))) == 10


def test_malformed_json_names_file_and_line(tiny_copy):
    lines = (tiny_copy / "corpus.jsonl").read_text().splitlines()
    lines[2] = '{"_id": "d3", "text": oops}'
    (tiny_copy / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        docs_of(beir(tiny_copy))
    assert err.value.where == f"{tiny_copy / 'corpus.jsonl'}:3"
    assert "malformed JSON" in err.value.line()


def test_missing_qrels_lists_available_splits(tiny_copy):
    with pytest.raises(InputError) as err:
        open_source(beir(tiny_copy, split="dev"), None)
    assert err.value.where.endswith("qrels/dev.tsv")
    assert "available splits: test" in err.value.fix


def test_duplicate_doc_ids_point_at_both_lines(tiny_copy):
    with open(tiny_copy / "corpus.jsonl", "a") as out:
        out.write('{"_id": "d2", "title": "again", "text": "x"}\n')
    with pytest.raises(InputError) as err:
        docs_of(beir(tiny_copy))
    assert err.value.where.endswith("corpus.jsonl:11")
    assert 'duplicate document id "d2"' in err.value.what and "corpus.jsonl:2" in err.value.what


def test_empty_documents_error_skip_or_keep(tiny_copy):
    with open(tiny_copy / "corpus.jsonl", "a") as out:
        out.write('{"_id": "blank", "title": " ", "text": ""}\n')
    with pytest.raises(InputError, match='document "blank" is empty') as err:
        docs_of(beir(tiny_copy))
    assert "data.on_empty=skip" in err.value.fix
    assert len(docs_of(beir(tiny_copy), OnEmpty.skip)) == 10
    assert len(docs_of(beir(tiny_copy), OnEmpty.keep)) == 11


def test_msmarco_tsv(tmp_path):
    (tmp_path / "collection.tsv").write_text("0\tfirst passage\n1\tsecond passage\n")
    (tmp_path / "queries.dev.tsv").write_text("7\twhich passage\n8\tunjudged\n")
    (tmp_path / "qrels.dev.tsv").write_text("7\t0\t1\t1\n")
    config = DataConfig(name="m", format=DataFormat.msmarco, path=str(tmp_path), split="dev")
    source = open_source(config, None)
    assert [(d.doc_id, d.text) for d in source.docs()] == [("0", "first passage"), ("1", "second passage")]
    query_set = load_queries(source)
    assert [q.query_id for q in query_set.queries] == ["7"] and [q[:3] for q in query_set.qrels] == [("7", "1", 1)]
    (tmp_path / "collection.tsv").write_text("0\tfirst\textra\tfield\n")
    with pytest.raises(InputError, match="tab-separated"):
        list(open_source(config, None).docs())


def test_data_root_switches_named_datasets_to_local_copies(tmp_path):
    shutil.copytree(TINY, tmp_path / "ir" / "tiny" / "beir")
    config = DataConfig(
        name="tiny", format=DataFormat.irds, irds_id="beir/does-not-matter", local=LocalCopyConfig(path="ir/tiny/beir")
    )
    source = open_source(config, str(tmp_path))
    assert source.label == str(tmp_path / "ir" / "tiny" / "beir")
    with pytest.raises(InputError, match="no local copy"):
        open_source(config, str(tmp_path / "elsewhere"))


def test_hf_datasets_from_save_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"_id": ["a", "b"], "title": ["", "T"], "text": ["alpha", "beta"]}).save_to_disk(
        tmp_path / "corpus"
    )
    datasets.DatasetDict({"queries": datasets.Dataset.from_dict({"_id": ["q"], "text": ["alpha?"]})}).save_to_disk(
        tmp_path / "queries"
    )
    datasets.DatasetDict(
        {"test": datasets.Dataset.from_dict({"query-id": ["q"], "corpus-id": ["a"], "score": [1]})}
    ).save_to_disk(tmp_path / "qrels")
    config = DataConfig(
        name="hf",
        format=DataFormat.hf,
        hf=HFConfig(
            corpus=HFTableConfig(path=str(tmp_path / "corpus")),
            queries=HFTableConfig(path=str(tmp_path / "queries")),
            qrels=HFTableConfig(path=str(tmp_path / "qrels")),
        ),
    )
    source = open_source(config, None)
    assert [(d.doc_id, d.title, d.text) for d in source.docs()] == [("a", "", "alpha"), ("b", "T", "beta")]
    query_set = load_queries(source)
    assert [q.text for q in query_set.queries] == ["alpha?"] and [q[:3] for q in query_set.qrels] == [("q", "a", 1)]
    bad = DataConfig(
        name="hf", format=DataFormat.hf, hf=HFConfig(corpus=HFTableConfig(path=str(tmp_path / "qrels"), split="dev"))
    )
    with pytest.raises(ConfigError, match="split 'dev'"):
        open_source(bad, None)


def test_irds_unknown_id_is_a_config_error():
    pytest.importorskip("ir_datasets")
    with pytest.raises(ConfigError, match="unknown ir_datasets id"):
        open_source(DataConfig(name="x", format=DataFormat.irds, irds_id="no/such/dataset"), None)


def test_file_overrides(tmp_path):
    shutil.copy(TINY / "corpus.jsonl", tmp_path / "docs.jsonl")
    shutil.copy(TINY / "queries.jsonl", tmp_path / "topics.jsonl")
    config = beir(tmp_path, split=None, files=FilesConfig(corpus="docs.jsonl", queries="topics.jsonl"))
    assert len(list(open_source(config, None).docs())) == 10
