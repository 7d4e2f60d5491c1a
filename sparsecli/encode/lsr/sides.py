"""One side (documents or queries) of a learned sparse encoder.

Model sides (`mlm`, `mlp`) batch texts by token length, which minimises padding, run the
model under `inference_mode`, weigh and prune on the device, and return CSR rows in the
input order. Tokenizer-only sides (`binary`, `idf`) never load a model: an inference-free
query costs a tokenizer call and a table lookup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from sparsecli.encode.lsr.config import Backbone, SideConfig, SideType
from sparsecli.encode.lsr import hf, weights
from sparsecli.errors import InputError

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # indptr, indices, data


class Tokens(NamedTuple):
    ids: Sequence[int]  # a list from the tokenizer, or a slice of the token table
    pool_start: int  # pool over positions >= pool_start (echo: the second copy)


def rows_in_order(per_text: list[tuple[np.ndarray, np.ndarray]]) -> Rows:
    indptr = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum([len(i) for i, _ in per_text], out=indptr[1:])
    if not per_text:
        return indptr, np.zeros(0, np.int32), np.zeros(0, np.float32)
    indices = np.concatenate([i for i, _ in per_text]).astype(np.int32)
    data = np.concatenate([d for _, d in per_text]).astype(np.float32)
    return indptr, indices, data


class Side:
    """Tokenization shared by every side type; `rows` weighs one batch of tokenized texts."""

    uses_model = False
    batch_size = 4096  # texts per call of `rows`; model sides use the configured batch size

    def __init__(self, config: SideConfig, tokenizer: Any, decoder: bool):
        self.config = config
        self.tokenizer = tokenizer
        self.decoder = decoder
        self.special = np.array(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)
        self._special_set = set(self.special.tolist())
        self.vocab_size = len(tokenizer)

    def tokenize(self, texts: list[str]) -> list[Tokens]:
        limit = self.config.max_length
        if self.decoder and self.config.echo:
            # [bos] text text: pooling over the second copy, whose tokens attend to the whole text.
            bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
            half = (limit - len(bos)) // 2
            plain = self.tokenizer(texts, add_special_tokens=False, truncation=True, max_length=half)["input_ids"]
            return [Tokens(bos + ids + ids, len(bos) + len(ids)) for ids in plain]
        encoded = self.tokenizer(texts, truncation=True, max_length=limit)["input_ids"]
        return [Tokens(ids, 0) for ids in encoded]

    def unique_terms(self, tokens: Tokens) -> np.ndarray:
        terms = {int(t) for t in tokens.ids[tokens.pool_start :]} - self._special_set
        return np.array(sorted(terms), dtype=np.int64)

    def rows(self, batch: list[Tokens]) -> Rows:
        """CSR rows of one batch of tokenized texts, in the batch's order."""
        raise NotImplementedError

    def encode(self, texts: list[str], advance: Callable[[int], None] = lambda n: None) -> Rows:
        """CSR rows of `texts`, in their order. Batches are formed longest first (padding is
        minimal, and a batch that does not fit fails at once), ties in input order."""
        tokenized = self.tokenize(texts)
        order = sorted(range(len(tokenized)), key=lambda i: (-len(tokenized[i].ids), i))
        rows: list[Any] = [None] * len(tokenized)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            indptr, indices, data = self.rows([tokenized[i] for i in batch])
            for position, i in enumerate(batch):
                rows[i] = (
                    indices[indptr[position] : indptr[position + 1]],
                    data[indptr[position] : indptr[position + 1]],
                )
            advance(len(batch))
        return rows_in_order(rows)


class BinarySide(Side):
    def rows(self, batch):
        per_text = []
        for tokens in batch:
            terms = self.unique_terms(tokens)
            per_text.append((terms, np.ones(len(terms), np.float32)))
        return rows_in_order(per_text)


class IDFSide(Side):
    """Weight = the token's IDF: from a file (e.g. an inference-free model's idf.json), or
    computed over the corpus with `set_corpus_df`."""

    def __init__(self, config, tokenizer, decoder, idf: np.ndarray | None = None):
        super().__init__(config, tokenizer, decoder)
        self.idf = idf

    @classmethod
    def from_file(cls, config, tokenizer, decoder, path) -> "IDFSide":
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise InputError(f"not valid JSON ({err})", where=str(path), fix='write {"token": weight, ...}') from None
        idf = np.zeros(len(tokenizer), dtype=np.float32)  # tokens absent from the file weigh 0
        for token, weight in table.items():
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id is not None and 0 <= token_id < len(idf) and token_id != tokenizer.unk_token_id:
                idf[token_id] = weight
        return cls(config, tokenizer, decoder, idf)

    def set_corpus_df(self, df: np.ndarray, n_docs: int) -> None:
        """Lucene's BM25 idf, positive for every df: the default weight of an IDF side."""
        from sparsecli.encode.bm25.encoder import idf_lucene

        self.idf = idf_lucene(df, n_docs).astype(np.float32)

    def rows(self, batch):
        per_text = []
        for tokens in batch:
            terms = self.unique_terms(tokens)
            values = self.idf[terms]
            keep = values > 0
            per_text.append((terms[keep], values[keep]))
        return rows_in_order(per_text)


class ModelSide(Side):
    """Sides that run a transformer, under inference_mode, pruning on the device."""

    uses_model = True

    def __init__(self, config, tokenizer, decoder, model: Any, batch_size: int):
        super().__init__(config, tokenizer, decoder)
        self.model = model
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.vocab_size = max(self.vocab_size, self._output_size())
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def _output_size(self) -> int:
        return self.vocab_size

    def rows(self, batch):
        import torch

        with torch.inference_mode():
            return self._weigh(batch)

    def _tensors(self, batch: list[Tokens]) -> tuple[Any, Any, Any]:
        import torch

        length = max(len(t.ids) for t in batch)
        input_ids = torch.full((len(batch), length), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), length), dtype=torch.long)
        pool = torch.zeros((len(batch), length), dtype=torch.bool)
        for row, tokens in enumerate(batch):
            input_ids[row, : len(tokens.ids)] = torch.tensor(tokens.ids)
            attention[row, : len(tokens.ids)] = 1
            pool[row, tokens.pool_start : len(tokens.ids)] = True
        if not self.config.pool_special_positions or self.config.type == SideType.mlp:
            pool &= ~torch.isin(input_ids, torch.from_numpy(self.special))
        return input_ids.to(self.device), attention.to(self.device), pool.to(self.device)

    def _finish(self, term_weights: Any) -> Rows:
        term_weights = weights.drop_columns(term_weights, torch_index(self.special, term_weights.device))
        return weights.to_csr(weights.prune(term_weights, self.config.top_k, self.config.threshold))

    def _weigh(self, batch: list[Tokens]) -> Rows:
        raise NotImplementedError


def torch_index(values: np.ndarray, device: Any) -> Any:
    import torch

    return torch.from_numpy(values).to(device)


class MLMSide(ModelSide):
    """SPLADE over a masked LM or a causal LM's head."""

    def _output_size(self) -> int:
        return self.model.get_output_embeddings().weight.shape[0]

    def __init__(self, config, tokenizer, decoder, model, batch_size):
        super().__init__(config, tokenizer, decoder, model, batch_size)
        # Heads that transform logits after the projection (e.g. Gemma's soft-capping) need the full logits.
        self.pool_in_head = getattr(model.config, "final_logit_softcapping", None) is None

    def _weigh(self, batch):
        input_ids, attention, pool = self._tensors(batch)
        pooling = self.config.pooling.value
        if self.pool_in_head:
            with weights.pooled_head(self.model, pool, pooling):
                term_weights = self.model(input_ids=input_ids, attention_mask=attention).logits[:, 0]
        else:
            logits = self.model(input_ids=input_ids, attention_mask=attention).logits
            term_weights = weights.splade(logits, pool, pooling)
        return self._finish(term_weights)


class MLPSide(ModelSide):
    """uniCOIL: a Linear(hidden, 1) head on the backbone's token states, relu, no expansion."""

    def __init__(self, config, tokenizer, decoder, model, batch_size, head: Any):
        super().__init__(config, tokenizer, decoder, model, batch_size)
        self.head = head.to(self.device)

    def _weigh(self, batch):
        input_ids, attention, pool = self._tensors(batch)
        hidden = self.model(input_ids=input_ids, attention_mask=attention).last_hidden_state
        token_weights = self.head(hidden.to(self.head.weight.dtype)).squeeze(-1)
        return self._finish(weights.token_max(token_weights, input_ids, pool, self.vocab_size))


def load_head(name: str, prefix: str, options: hf.LoadOptions, hidden_size: int) -> Any:
    """The Linear(hidden, 1) term-weight head stored in the checkpoint under `prefix`
    (uniCOIL's `tok_proj`). Raises InputError when the checkpoint has no `<prefix>.weight`."""
    import torch

    where, tensors = _checkpoint_tensors(name, (f"{prefix}.weight", f"{prefix}.bias"), options)
    if f"{prefix}.weight" not in tensors:
        raise InputError(
            f"the checkpoint has no {prefix}.weight",
            where=where,
            fix="set encoder.<side>.head to the key prefix of the term-weight head",
        )
    head = torch.nn.Linear(hidden_size, 1, bias=f"{prefix}.bias" in tensors)
    with torch.no_grad():
        head.weight.copy_(tensors[f"{prefix}.weight"].reshape(1, hidden_size))
        if head.bias is not None:
            head.bias.copy_(tensors[f"{prefix}.bias"].reshape(1))
    return head.eval()


def _checkpoint_tensors(name: str, keys: tuple[str, ...], options: hf.LoadOptions) -> tuple[str, dict]:
    """The file read and the tensors among `keys` that it holds: model.safetensors, or for
    checkpoints saved before safetensors, pytorch_model.bin (torch.load, weights_only)."""
    import torch
    from safetensors import safe_open

    try:
        path = hf.model_file(name, "model.safetensors", options)
    except InputError:
        try:
            path = hf.model_file(name, "pytorch_model.bin", options)
        except InputError:
            raise InputError(
                "the checkpoint has neither model.safetensors nor pytorch_model.bin",
                where=f"encoder model {name}",
                fix="pass a checkpoint folder (or hub id) with its weights",
            ) from None
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return str(path), {key: state[key] for key in keys if key in state}
    with safe_open(str(path), framework="pt") as tensors:
        present = set(tensors.keys())
        return str(path), {key: tensors.get_tensor(key) for key in keys if key in present}


def sparse_layers(model: Any, name: str, sparse_format: str) -> int:
    """Put a pruned model's sparse layers in (encoder.sparse_format): CSR from the prune run's
    csr.safetensors, or torch's 2:4 semi-structured weights. Returns how many layers changed:
    0 for a model without them (a dense query model beside a pruned document model); the
    caller refuses a run where no model had any. Raises InputError (one line)."""
    import logging

    if sparse_format == "csr":
        from sparsecli.sparsity import csr

        path = Path(name) / "csr.safetensors"
        if not path.is_file():
            return 0
        try:
            swapped = csr.swap_in(model, path)
        except ValueError as err:
            raise InputError(
                str(err), where="encoder.sparse_format", fix="re-export with `sparse prune ... csr=true`"
            ) from None
    else:
        from sparsecli.sparsity import semistructured

        try:
            swapped = semistructured.swap_in(model)
        except (ValueError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(
                f"2:4 kernels refused {name}: {first}",
                where="encoder.sparse_format",
                fix="pass encoder.sparse_format=dense (sparse tensor cores need compute capability 8.0 or later)",
            ) from None
    logging.getLogger("sparsecli").info("%s: %s layers: %d", name, sparse_format, len(swapped))
    return len(swapped)


class SideFactory:
    """Builds sides, loading each tokenizer and model once even when both sides share them."""

    def __init__(self, options: hf.LoadOptions, batch_size: int, compile_model: bool, sparse_format: str = "dense"):
        self.options, self.batch_size, self.compile_model = options, batch_size, compile_model
        self.sparse_format = sparse_format
        self.sparse_layers = 0  # layers sparse_format put in, over every model loaded
        self._tokenizers: dict = {}
        self._models: dict = {}
        self._available: dict = {}  # (model, revision) -> the options it loads with
        self.provenance: dict[str, dict] = {}

    def _options(self, config: SideConfig) -> hf.LoadOptions:
        key = (config.model, config.revision)
        if key not in self._available:
            self._available[key] = hf.available(config.model, self.options._replace(revision=config.revision))
        return self._available[key]

    def tokenizer(self, config: SideConfig) -> Any:
        key = (config.model, config.revision)
        if key not in self._tokenizers:
            self._tokenizers[key] = hf.load_tokenizer(config.model, self._options(config))
        return self._tokenizers[key]

    def model(self, config: SideConfig, kind: str) -> Any:
        key = (config.model, config.revision, kind)
        if key not in self._models:
            model = hf.load_model(config.model, kind, self._options(config))
            if self.sparse_format != "dense":
                self.sparse_layers += sparse_layers(model, config.model, self.sparse_format)
            if self.compile_model:
                import torch

                model = torch.compile(model)
            self._models[key] = model
        return self._models[key]

    def build(self, name: str, config: SideConfig) -> Side:
        options = self._options(config)
        tokenizer = self.tokenizer(config)
        needs_backbone = config.type in (SideType.mlm, SideType.mlp) or config.echo
        backbone = hf.resolve_backbone(config.model, config.backbone, options) if needs_backbone else config.backbone
        decoder = backbone == Backbone.decoder
        if decoder and tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token  # causal LMs often ship without a pad token
        model = None
        if config.type == SideType.binary:
            side: Side = BinarySide(config, tokenizer, decoder)
        elif config.type == SideType.idf:
            path = hf.model_file(config.model, config.idf_file, options) if config.idf_file else None
            side = IDFSide.from_file(config, tokenizer, decoder, path) if path else IDFSide(config, tokenizer, decoder)
        elif config.type == SideType.mlm:
            model = self.model(config, "causal" if decoder else "mlm")
            side = MLMSide(config, tokenizer, decoder, model, self.batch_size)
        else:
            model = self.model(config, "base")
            head = load_head(config.model, config.head, options, model.config.hidden_size)
            side = MLPSide(config, tokenizer, decoder, model, self.batch_size, head)
        self.provenance[name] = {
            **hf.provenance(config.model, model, tokenizer, options),
            "type": config.type.value,
            "backbone": "decoder" if decoder else "encoder",
            "max_length": config.max_length,
            "pooling": config.pooling.value,
            "echo": config.echo,
            "top_k": config.top_k,
            "threshold": config.threshold,
        }
        return side
