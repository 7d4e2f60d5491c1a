"""`encoder=splade|inference_free|unicoil|splade_doc|llm_splade|lsr`: learned sparse encoders,
one side for documents and one for queries, each a component of the unified LSR framework
(Nguyen, MacAvaney, Yates, ECIR 2023)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from typing import List, Optional

from sparsecli.data.config import check_fields
from sparsecli.encode.config import EncoderConfig
from sparsecli.schema import check, late_field, option, path_field, runtime_field


class SideType(Enum):
    """How one side weighs vocabulary terms; any doc type can be combined with any query type."""

    mlm = "mlm"  # SPLADE: log(1 + relu(LM logits)) pooled over tokens; expands to the whole vocabulary
    mlp = "mlp"  # uniCOIL: relu(linear(hidden state)) per input token; no expansion
    binary = "binary"  # 1 for every input token; no model
    idf = "idf"  # the token's IDF over the corpus (or from a file); no model: inference-free queries


class Pooling(Enum):
    max = "max"
    sum = "sum"


class Backbone(Enum):
    auto = "auto"  # from the checkpoint's architecture
    encoder = "encoder"  # a masked LM (BERT, DistilBERT, RoBERTa, ...)
    decoder = "decoder"  # a causal LM (Llama, Mistral, Qwen, ...): the LM head over the vocabulary


class DType(Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class SparseFormat(Enum):
    """How a pruned checkpoint's zeros are used at load time (sparsity/csr.py, semistructured.py)."""

    dense = "dense"  # the weights as saved, zeros multiplied like any other number
    csr = "csr"  # the prune run's csr.safetensors as CSR layers: CPU, fp32; faster from about 80% sparsity
    semi_structured = "semi_structured"  # 2:4 layers on sparse tensor cores: CUDA, fp16 or bf16


class Device(Enum):
    auto = "auto"  # cuda when available
    cpu = "cpu"
    cuda = "cuda"


@dataclass
class SideConfig:
    type: SideType = SideType.mlm
    model: Optional[str] = path_field()  # hub id or local folder; tokenizer only for binary/idf
    revision: Optional[str] = None  # a hub branch, tag or commit to pin
    max_length: int = 256  # naver/splade's document length; queries use 64 (below)
    pooling: Pooling = Pooling.max
    backbone: Backbone = Backbone.auto
    echo: bool = False  # decoders: feed the text twice, pool over the second copy (every token sees all)
    pool_special_positions: bool = True  # pool over [CLS]/[SEP] positions too, as naver/splade does
    top_k: Optional[int] = None  # keep the k largest weights per vector, on the device
    threshold: float = 0.0  # keep weights above this, on the device
    head: str = "tok_proj"  # mlp: the checkpoint key prefix of the Linear(hidden, 1) term-weight head
    idf_file: Optional[str] = None  # idf: JSON {token: weight} in the model folder; default: IDF over the corpus

    def check(self, side: str) -> None:
        """Range checks, naming the field as `encoder.<side>.<name>`."""
        check(self.max_length > 1, f"encoder.{side}.max_length", "must be > 1", "pass e.g. 256")
        check(self.top_k is None or self.top_k > 0, f"encoder.{side}.top_k", "must be positive or null", "e.g. 256")
        check(self.threshold >= 0, f"encoder.{side}.threshold", "must be >= 0", "pass 0 to keep all positive weights")


@option("encoder", "lsr")
@dataclass
class LSRConfig(EncoderConfig):
    """A learned sparse encoder: one SideConfig for documents, one for queries."""

    name: str = "lsr"
    model: Optional[str] = path_field()  # default for both sides
    revision: Optional[str] = None
    doc: SideConfig = field(default_factory=SideConfig)
    query: SideConfig = field(default_factory=lambda: SideConfig(max_length=64))
    fields: List[str] = field(default_factory=lambda: ["title", "text"])  # joined with a space
    dtype: DType = DType.fp32
    device: Device = Device.auto
    local_files_only: bool = False
    trust_remote_code: bool = False  # never on unless asked: it runs code from the checkpoint
    batch_size: int = 32  # fits a BERT-base at 256 tokens in a few GB, on CPU or GPU
    # Documents per resumable shard, rounded up to whole batches. Not in the run key: batches
    # are drawn from the whole collection in one fixed order, so it never changes a byte.
    shard_size: int = runtime_field(2048)
    compile: bool = False  # torch.compile the model
    sparse_format: SparseFormat = late_field(
        SparseFormat.dense
    )  # csr or semi_structured: pruned models (`sparse prune`) only

    def sharded(self) -> bool:
        return True

    def __post_init__(self) -> None:
        check(self.batch_size > 0, "encoder.batch_size", "must be positive", "pass e.g. 32")
        check(self.shard_size > 0, "encoder.shard_size", "must be positive", "pass e.g. 2048")
        if self.model and self.model.startswith("~"):  # a folder: hub ids never start with ~
            self.model = os.path.expanduser(self.model)
        for side, config in (("doc", self.doc), ("query", self.query)):
            if config.model and config.model.startswith("~"):
                config.model = os.path.expanduser(config.model)
            config.check(side)
            check(
                bool(config.model),
                f"encoder.{side}.model",
                "no model or tokenizer given",
                "pass encoder.model=<hub id or folder>",
            )
        check_fields(self.fields, "encoder.fields")

    def text_fields(self) -> list[str]:
        return list(self.fields)

    def load_options(self):
        """How checkpoints are loaded (sparsecli.encode.lsr.hf.LoadOptions; a side sets its revision)."""
        from sparsecli.encode.lsr.hf import LoadOptions

        return LoadOptions(None, self.dtype, self.device, self.local_files_only, self.trust_remote_code)

    def preflight(self) -> None:
        from sparsecli.encode.lsr.hf import available, position_limit, torch_device

        if self.sparse_format != SparseFormat.dense:
            csr = self.sparse_format == SparseFormat.csr
            device = torch_device(self.device).type
            check(
                device == "cpu" and self.dtype == DType.fp32 if csr else device == "cuda" and self.dtype != DType.fp32,
                "encoder.sparse_format",
                f"{self.sparse_format.value} layers run "
                + ("on the CPU in fp32" if csr else "on CUDA in fp16 or bf16")
                + f", not {device} {self.dtype.value}",
                "pass encoder.device=cpu encoder.dtype=fp32"
                if csr
                else "pass encoder.device=cuda encoder.dtype=bf16 (on a GPU with sparse tensor cores)",
            )
            if not csr:
                import torch

                capability = torch.cuda.get_device_capability()
                check(
                    capability >= (8, 0),
                    "encoder.sparse_format",
                    f"2:4 kernels need compute capability 8.0 or later, this GPU has {capability[0]}.{capability[1]}",
                    "pass encoder.sparse_format=dense",
                )

        for side, config in (("doc", self.doc), ("query", self.query)):
            field = "encoder.model" if config.model == self.model else f"encoder.{side}.model"
            options = available(config.model, self.load_options()._replace(revision=config.revision), field)
            if config.type in (SideType.mlm, SideType.mlp):
                limit = position_limit(config.model, options)
                check(
                    limit is None or config.max_length <= limit,
                    f"encoder.{side}.max_length",
                    f"{config.max_length} tokens, but {config.model} has {limit} positions",
                    f"pass encoder.{side}.max_length={limit} or less",
                )

    def encode(self, docs, queries, context):
        from sparsecli.encode.lsr.encoder import encode

        return encode(docs, queries, self, context)
