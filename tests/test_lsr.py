"""Learned sparse encoders on tiny random checkpoints (and a slice of the real splade-tiny)."""

import json
import shutil

import numpy as np
import pytest

from sparsecli.encode.lsr.config import Backbone, Device, DType, LSRConfig, Pooling, SideConfig, SideType
from sparsecli.encode.lsr import encoder as lsr
from sparsecli.encode.lsr import hf, weights
from sparsecli.encode.context import EncodeContext
from sparsecli.encode.lsr.sides import SideFactory

from conftest import TINY, full_pipeline

torch = pytest.importorskip("torch")

OPTIONS = hf.LoadOptions(None, DType.fp32, Device.cpu, True, False)
TEXTS = ["Sparse retrieval expands documents.", "An inverted index maps terms", "x", ""]


def dense(rows, n_cols):
    indptr, indices, data = rows
    out = np.zeros((len(indptr) - 1, n_cols), dtype=np.float32)
    for r in range(len(indptr) - 1):
        out[r, indices[indptr[r] : indptr[r + 1]]] = data[indptr[r] : indptr[r + 1]]
    return out


def side(model_dir, **kwargs):
    return SideFactory(OPTIONS, batch_size=3, compile_model=False).build(
        "doc", SideConfig(model=str(model_dir), **kwargs)
    )


def reference_splade(model_dir, texts, max_length, pooling, causal=False, echo=False):
    """SPLADE straight from the logits, one text at a time: no batching, padding or chunking."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = (AutoModelForCausalLM if causal else AutoModelForMaskedLM).from_pretrained(model_dir).eval()
    rows = []
    for text in texts:
        if echo:
            ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=(max_length - 1) // 2)[
                "input_ids"
            ]
            input_ids, start = [tokenizer.bos_token_id] + ids + ids, 1 + len(ids)
        else:
            input_ids, start = tokenizer(text, truncation=True, max_length=max_length)["input_ids"], 0
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([input_ids])).logits[0, start:]
        activated = torch.log1p(torch.relu(logits))
        if len(activated) == 0:
            row = torch.zeros(logits.shape[-1])  # nothing to pool over: an empty vector
        else:
            row = activated.max(dim=0).values if pooling == "max" else activated.sum(dim=0)
        row[tokenizer.all_special_ids] = 0
        rows.append(row.numpy())
    return np.stack(rows)


@pytest.mark.parametrize("pooling", ["max", "sum"])
def test_splade_weights_equal_the_logits_formula(tiny_bert, pooling):
    encoder = side(tiny_bert, max_length=8, pooling=Pooling(pooling))
    got = dense(encoder.encode(TEXTS), encoder.vocab_size)
    expected = reference_splade(tiny_bert, TEXTS, 8, pooling)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    assert got[:, encoder.special].sum() == 0


def test_decoder_backbone_with_echo_equals_the_logits_formula(tiny_llama):
    encoder = side(tiny_llama, max_length=16, echo=True)
    assert encoder.decoder  # found from the checkpoint's architecture
    got = dense(encoder.encode(TEXTS), encoder.vocab_size)
    np.testing.assert_allclose(got, reference_splade(tiny_llama, TEXTS, 16, "max", causal=True, echo=True), atol=1e-5)


def test_pruning_on_the_device():
    w = torch.tensor([[0.0, 0.5, 0.2, 0.9], [0.3, 0.0, 0.0, 0.1]])
    indptr, indices, data = weights.to_csr(weights.prune(w.clone(), top_k=2, threshold=0.15))
    assert indptr.tolist() == [0, 2, 3] and indices.tolist() == [1, 3, 0]
    np.testing.assert_allclose(data, [0.5, 0.9, 0.3])


def test_mlp_binary_and_idf_sides(tiny_bert, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    ids = tokenizer("index index maps", truncation=True, max_length=16)["input_ids"]
    terms = sorted(set(ids) - set(tokenizer.all_special_ids))

    binary = dense(side(tiny_bert, type=SideType.binary).encode(["index index maps"]), len(tokenizer))[0]
    assert np.flatnonzero(binary).tolist() == terms and set(binary[terms]) == {1.0}

    table = tmp_path / "model"
    shutil.copytree(tiny_bert, table)
    (table / "idf.json").write_text(json.dumps({"index": 2.5, "maps": 0.5, "nope": 9.0}))
    idf = side(table, type=SideType.idf, idf_file="idf.json")
    row = dense(idf.encode(["index index maps"]), len(tokenizer))[0]
    assert {tokenizer.convert_ids_to_tokens(int(i)): float(row[i]) for i in np.flatnonzero(row)} == {
        "index": 2.5,
        "maps": 0.5,
    }

    # uniCOIL: relu(tok_proj(hidden)) per position, max over the positions of each token.
    mlp = side(tiny_bert, type=SideType.mlp, max_length=16)
    got = dense(mlp.encode(["index index maps"]), len(tokenizer))[0]
    backbone = AutoModel.from_pretrained(tiny_bert).eval()
    from safetensors.torch import load_file

    head = load_file(tiny_bert / "model.safetensors")
    with torch.no_grad():
        hidden = backbone(input_ids=torch.tensor([ids])).last_hidden_state[0]
        per_position = torch.relu(hidden @ head["tok_proj.weight"][0] + head["tok_proj.bias"][0]).numpy()
    expected = np.zeros(len(tokenizer), dtype=np.float32)
    for position, token in enumerate(ids):
        if token not in tokenizer.all_special_ids:
            expected[token] = max(expected[token], per_position[position])
    np.testing.assert_allclose(got, expected, atol=1e-6)

    # The same checkpoint saved before safetensors (pytorch_model.bin) gives the same weights.
    legacy = tmp_path / "legacy"
    shutil.copytree(tiny_bert, legacy)
    torch.save(load_file(legacy / "model.safetensors"), legacy / "pytorch_model.bin")
    (legacy / "model.safetensors").unlink()
    legacy_got = dense(side(legacy, type=SideType.mlp, max_length=16).encode(["index index maps"]), len(tokenizer))
    np.testing.assert_array_equal(legacy_got[0], got)


def test_inference_free_queries_never_call_a_model(tiny_bert, tmp_path, monkeypatch):
    from sparsecli.encode.lsr.sides import IDFSide

    forward_passes = []
    load_model = SideFactory.model

    def model_with_counter(self, config, kind):
        model = load_model(self, config, kind)
        if not model._forward_hooks:
            model.register_forward_hook(lambda *args: forward_passes.append(1))
        return model

    monkeypatch.setattr(SideFactory, "model", model_with_counter)
    during_queries = []
    encode_queries = IDFSide.encode

    def counted(self, texts, advance=lambda n: None):
        before = len(forward_passes)
        rows = encode_queries(self, texts, advance)
        during_queries.append(len(forward_passes) - before)
        return rows

    monkeypatch.setattr(IDFSide, "encode", counted)
    config = LSRConfig(
        model=str(tiny_bert),
        doc=SideConfig(model=str(tiny_bert), max_length=16),
        query=SideConfig(type=SideType.idf, model=str(tiny_bert), max_length=16),
        device=Device.cpu,
    )
    docs = [("a", "", "sparse retrieval"), ("b", "", "inverted index"), ("c", "", "index maps terms")]
    encoded = lsr.encode(docs, [("q", "index")], config, EncodeContext(tmp_path))
    assert len(forward_passes) > 0 and during_queries == [0]
    assert not encoded.stats["query_side_uses_model"] and encoded.stats["query_idf"] == "corpus"
    # IDF over the corpus: "index" is in 2 of the 3 documents.
    query = encoded.queries
    np.testing.assert_allclose(
        query.data[query.indptr[0] : query.indptr[1]], [np.log1p((3 - 2 + 0.5) / (2 + 0.5))], rtol=1e-6
    )


def test_tokenizer_only_sides_load_no_model(tiny_bert, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(hf, "load_model", refuse)
    config = LSRConfig(
        doc=SideConfig(type=SideType.binary, model=str(tiny_bert)),
        query=SideConfig(type=SideType.idf, model=str(tiny_bert)),
        device=Device.cpu,
    )
    encoded = lsr.encode([("a", "", "sparse retrieval")], [("q", "retrieval")], config, EncodeContext(tmp_path))
    assert encoded.docs.nnz == 2 and encoded.queries.nnz == 1


def test_flops_estimate():
    from sparsecli.io.arrays import StringArray
    from sparsecli.io.vectors import SparseVectors

    ids = StringArray.pack(["a", "b"])
    docs = SparseVectors(np.array([0, 2, 3]), np.array([0, 1, 1], np.int32), np.ones(3, np.float32), ids, 3)
    queries = SparseVectors(np.array([0, 1, 2]), np.array([1, 2], np.int32), np.ones(2, np.float32), ids, 3)
    # p_doc = [1/2, 1, 0], p_query = [0, 1/2, 1/2]
    assert lsr.flops(docs, queries) == {"query_doc": 0.5, "doc_doc": 1.25}


def test_backbone_resolution(tiny_bert, tiny_llama):
    assert hf.resolve_backbone(str(tiny_bert), Backbone.auto, OPTIONS) == Backbone.encoder
    assert hf.resolve_backbone(str(tiny_llama), Backbone.auto, OPTIONS) == Backbone.decoder


# --------------------------------------------------------------------------- through the CLI

ENCODERS = {  # name: (overrides, tiny model)
    "splade": (["encoder=splade"], "tiny_bert"),
    "inference_free": (["encoder=inference_free"], "tiny_bert"),
    "unicoil": (["encoder=unicoil"], "tiny_bert"),
    "splade_doc": (["encoder=splade_doc"], "tiny_bert"),
    "llm_splade": (["encoder=llm_splade", "encoder.device=cpu"], "tiny_llama"),
    "lsr-mlp-idf": (["encoder=lsr", "encoder.doc.type=mlp", "encoder.query.type=idf"], "tiny_bert"),
    "lsr-binary-mlm": (["encoder=lsr", "encoder.doc.type=binary", "encoder.query.type=mlm"], "tiny_bert"),
}


# Seeded random tiny models, so the figures are exact; they say nothing about quality (the
# models rank SciFact almost at random), but any change to tokenization, batching, pooling,
# weighting or pruning that moves a vector moves them: FLOPS counts every nonzero.
SCIFACT = {  # name: (measures of the first 20 test queries, FLOPS query-doc, FLOPS doc-doc)
    "inference_free": ({"nDCG@10": 0.0, "RR@10": 0.0, "R@100": 0.0, "R@1000": 0.15}, 11.239495, 141.060496),
    "llm_splade": ({"nDCG@10": 0.0, "RR@10": 0.0, "R@100": 0.15, "R@1000": 0.3}, 376.742717, 389.956391),
    "lsr-binary-mlm": ({"nDCG@10": 0.0, "RR@10": 0.0, "R@100": 0.0, "R@1000": 0.15}, 14.739755, 7.657822),
    "lsr-mlp-idf": ({"nDCG@10": 0.0, "RR@10": 0.0, "R@100": 0.0, "R@1000": 0.15}, 0.239504, 0.062182),
    "splade": ({"nDCG@10": 0.0, "RR@10": 0.0, "R@100": 0.0, "R@1000": 0.3}, 140.413438, 141.060496),
    "splade_doc": ({"nDCG@10": 0.0, "RR@10": 0.0, "R@100": 0.0, "R@1000": 0.15}, 11.239495, 141.060496),
    "unicoil": ({"nDCG@10": 0.0, "RR@10": 0.0, "R@100": 0.0, "R@1000": 0.05}, 0.046508, 0.062182),
}
DECODER_METRICS = {"nDCG@10": 0.7877558610458476, "RR@10": 0.7142857142857143, "R@100": 1.0, "R@1000": 1.0}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_end_to_end_on_scifact(sparse, shared_data, monkeypatch, request, name):
    monkeypatch.setenv("SPARSECLI_DATA_ROOT", str(shared_data))
    args, model = ENCODERS[name]
    enc, metrics = full_pipeline(
        sparse,
        "data=scifact",
        "data.max_queries=20",
        *args,
        f"encoder.model={request.getfixturevalue(model)}",
        "encoder.doc.max_length=24",
        "encoder.query.max_length=16",
        "encoder.batch_size=64",
    )
    manifest = json.loads((enc / "manifest.json").read_text())
    assert manifest["docs"]["rows"] == 5183 and manifest["queries"]["rows"] == 20
    assert manifest["vocab_size"] == len(json.loads((enc / "vocab.json").read_text()))
    measures, query_doc, doc_doc = SCIFACT[name]
    assert manifest["encoder_stats"]["flops"] == {"query_doc": query_doc, "doc_doc": doc_doc}
    assert metrics == pytest.approx(measures, abs=1e-9)


def test_decoder_encoder_end_to_end(sparse, tiny_llama):
    enc, metrics = full_pipeline(
        sparse,
        "data=beir",
        f"data.path={TINY}",
        "encoder=llm_splade",
        f"encoder.model={tiny_llama}",
        "encoder.device=cpu",
    )
    sides = json.loads((enc / "manifest.json").read_text())["encoder_stats"]["sides"]
    assert (
        sides["doc"]["backbone"] == "decoder"
        and sides["doc"]["echo"]
        and sides["doc"]["architecture"] == "LlamaForCausalLM"
    )
    assert metrics == pytest.approx(DECODER_METRICS, abs=1e-9)


def test_public_checkpoint_layout_with_the_real_splade_tiny(sparse, tmp_path, shared_data):
    """config.json + tokenizer files + model.safetensors (old gamma/beta LayerNorm names), as on the hub."""
    model = tmp_path / "splade-tiny"
    model.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"):
        shutil.copy(shared_data.parent / "models" / "splade-tiny" / name, model / name)
    enc, metrics = full_pipeline(sparse, "data=beir", f"data.path={TINY}", "encoder=splade", f"encoder.model={model}")
    manifest = json.loads((enc / "manifest.json").read_text())
    doc = manifest["encoder_stats"]["sides"]["doc"]
    assert doc["architecture"] == "BertForMaskedLM" and doc["max_length"] == 256
    assert manifest["encoder_stats"]["sides"]["query"]["max_length"] == 64
    assert (
        doc["files_sha256"]["model.safetensors"]
        == __import__("hashlib").sha256((model / "model.safetensors").read_bytes()).hexdigest()
    )
    assert manifest["vocab_size"] == 30522 and metrics["nDCG@10"] > 0.5  # a real model ranks the tiny collection well
