"""Loading Hugging Face tokenizers and models: hub ids or local folders, pinned revisions.

Imported only by learned encoders, so `sparse --help` never pays for torch or transformers.
`trust_remote_code` is passed through as configured and is off by default.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

from sparsecli.config import Backbone, Device, DType
from sparsecli.errors import ConfigError, InputError
from sparsecli.io.checksum import sha256_file

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class LoadOptions(NamedTuple):
    revision: str | None
    dtype: DType
    device: Device
    local_files_only: bool
    trust_remote_code: bool


def torch_device(device: Device) -> Any:
    import torch

    if device == Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == Device.cuda and not torch.cuda.is_available():
        raise ConfigError(
            "CUDA is not available on this machine", where="encoder.device", fix="use encoder.device=cpu or auto"
        )
    return torch.device(device.value)


def torch_dtype(dtype: DType) -> Any:
    import torch

    return {DType.fp32: torch.float32, DType.bf16: torch.bfloat16, DType.fp16: torch.float16}[dtype]


def _common(options: LoadOptions) -> dict:
    return {
        "revision": options.revision,
        "local_files_only": options.local_files_only,
        "trust_remote_code": options.trust_remote_code,
    }


def _quiet() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()  # our own progress goes to stderr


def load_tokenizer(name: str, options: LoadOptions) -> Any:
    from transformers import AutoTokenizer

    _quiet()
    try:
        return AutoTokenizer.from_pretrained(name, **_common(options))
    except OSError as err:
        raise InputError(
            f"cannot load a tokenizer ({str(err).splitlines()[0]})",
            where=f"encoder model {name}",
            fix="pass a hub id (with network access) or a folder with tokenizer files; encoder.local_files_only=true "
            "uses only the local cache",
        ) from None


def resolve_backbone(name: str, backbone: Backbone, options: LoadOptions) -> Backbone:
    """Encoder (masked LM) or decoder (causal LM), from the checkpoint's declared architecture."""
    if backbone != Backbone.auto:
        return backbone
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(name, **_common(options))
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") for a in architectures) or getattr(config, "is_decoder", False):
        return Backbone.decoder
    return Backbone.encoder


def load_model(name: str, kind: str, options: LoadOptions) -> Any:
    """kind: `mlm` (masked LM), `causal` (causal LM) or `base` (hidden states only), in eval mode on the device."""
    import transformers

    _quiet()
    classes = {
        "mlm": transformers.AutoModelForMaskedLM,
        "causal": transformers.AutoModelForCausalLM,
        "base": transformers.AutoModel,
    }
    try:
        model = classes[kind].from_pretrained(name, dtype=torch_dtype(options.dtype), **_common(options))
    except OSError as err:
        raise InputError(
            f"cannot load the model ({str(err).splitlines()[0]})",
            where=f"encoder model {name}",
            fix="pass a hub id (with network access) or a folder with config.json and model.safetensors",
        ) from None
    return model.to(torch_device(options.device)).eval()


def model_file(name: str, filename: str, options: LoadOptions) -> Path:
    """A file of a checkpoint: inside a local folder, or downloaded from the hub repo."""
    local = Path(name) / filename
    if local.is_file():
        return local
    if Path(name).is_dir():
        raise InputError(f"{filename} not found", where=str(local), fix="put the file there or give a path")
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(name, filename, revision=options.revision, local_files_only=options.local_files_only))


def provenance(name: str, model: Any | None, tokenizer: Any, options: LoadOptions) -> dict:
    """What identifies the weights: the resolved hub commit, or the local weight files' sha256."""
    record = {
        "model": name,
        "revision": options.revision,
        "tokenizer": type(tokenizer).__name__,
        "dtype": options.dtype.value,
    }
    if model is not None:
        record["commit"] = getattr(model.config, "_commit_hash", None)
        record["architecture"] = type(model).__name__
    if Path(name).is_dir():
        record["files_sha256"] = {f: sha256_file(Path(name) / f) for f in WEIGHT_FILES if (Path(name) / f).is_file()}
    return record
