"""Loading Hugging Face tokenizers and models: hub ids or local folders, pinned revisions.

Imported only by learned encoders, so `sparse --help` never pays for torch or transformers.
`trust_remote_code` is passed through as configured and is off by default.

Before anything loads, `available` decides how a hub id can be loaded: from the hub when it
answers within seconds, from the local cache when it does not, or not at all, with one line
saying so. (Left to itself, the hub client retries an unreachable host for most of a minute.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

from sparsecli.encode.lsr.config import Backbone, Device, DType
from sparsecli.errors import ConfigError, InputError
from sparsecli.io.checksum import sha256_file
from sparsecli.io.hub import hub_reachable

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class LoadOptions(NamedTuple):
    revision: str | None
    dtype: DType
    device: Device
    local_files_only: bool
    trust_remote_code: bool


def _cached(name: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("config.json", "tokenizer_config.json"):
        found = try_to_load_from_cache(name, filename, revision=revision)
        if isinstance(found, str):
            return True
    return False


# The setting that makes encode use only the Hugging Face cache, named in fixes; a command
# without one (prune) passes offline=None: it falls back to the cache by itself.
OFFLINE = "encoder.local_files_only=true"


def available(
    name: str, options: LoadOptions, field: str = "encoder.model", offline: str | None = OFFLINE
) -> LoadOptions:
    """The options to load `name` with. A local folder or a reachable hub: unchanged. An
    unreachable hub: the local cache (local_files_only), if it holds the model. Otherwise
    an InputError naming the model, within HUB_TIMEOUT seconds. `offline`: as OFFLINE."""
    if Path(name).expanduser().is_dir():
        return options
    fix = f"pass {field}=<local folder with config.json, tokenizer and weights>, or run once with network access" + (
        f" and then {offline}" if offline else " (later runs offline use the Hugging Face cache)"
    )
    check_local(name, field)
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise InputError(
            f"{name!r} is neither a folder nor a hub id", where=field, fix="pass a model folder, or a hub id: org/name"
        ) from None
    if options.local_files_only:
        if _cached(name, options.revision):
            return options
        raise InputError(f"{name} is not a folder and not in the Hugging Face cache", where=field, fix=fix)
    if hub_reachable():
        return options
    if _cached(name, options.revision):
        log.warning("the Hugging Face hub cannot be reached; loading %s from the local cache", name)
        return options._replace(local_files_only=True)
    raise InputError(
        f"cannot reach the Hugging Face hub to download {name} (offline, or HF_HUB_OFFLINE=1), "
        "and it is not in the local cache",
        where=field,
        fix=fix,
    )


def check_local(name: str, field: str) -> None:
    """A name that reads as a path (or names a file) must be a model folder, not a hub id.
    Raises InputError."""
    if (name.startswith(("/", ".", "~")) or Path(name).exists()) and not Path(name).expanduser().is_dir():
        raise InputError(
            f"{name} is not a folder", where=field, fix=f"pass {field}=<existing model folder> or a hub id"
        )


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
    # Load reports list every unused checkpoint key (a uniCOIL head, say) over many lines.
    transformers.utils.logging.set_verbosity_error()


def load_tokenizer(name: str, options: LoadOptions, field: str = "encoder model", offline: str | None = OFFLINE) -> Any:
    """`offline`: as OFFLINE."""
    from transformers import AutoTokenizer

    _quiet()
    try:
        return AutoTokenizer.from_pretrained(name, **_common(options))
    except (OSError, ValueError) as err:  # ValueError: a folder with no tokenizer files
        raise InputError(
            f"cannot load a tokenizer ({str(err).splitlines()[0]})",
            where=f"{field} {name}",
            fix="pass a hub id (with network access) or a folder with tokenizer files"
            + (f"; {offline} uses only the local cache" if offline else ""),
        ) from None


def position_limit(name: str, options: LoadOptions) -> int | None:
    """The longest input the checkpoint's position embeddings allow, from its config; None
    when the config does not say (or there is no config.json: tokenizer-only sides)."""
    from transformers import AutoConfig

    _quiet()
    try:
        config = AutoConfig.from_pretrained(name, **_common(options))
    except (OSError, ValueError):
        return None
    return getattr(config, "max_position_embeddings", None)


def _architectures(name: str, options: LoadOptions, field: str, fix: str) -> list[str]:
    """The checkpoint's declared architectures (config.json), e.g. ["BertForMaskedLM"], and
    "is_decoder" when the config says so."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name, **_common(options))
    except (OSError, ValueError) as err:  # ValueError: a config.json transformers cannot read
        raise InputError(
            f"cannot read the model's config ({str(err).splitlines()[0]})",
            where=f"{field} {name}",
            fix=fix,
        ) from None
    names = list(getattr(config, "architectures", None) or [])
    return names + ["is_decoder"] if getattr(config, "is_decoder", False) else names


def resolve_backbone(name: str, backbone: Backbone, options: LoadOptions) -> Backbone:
    """Encoder (masked LM) or decoder (causal LM), from the checkpoint's declared architecture."""
    if backbone != Backbone.auto:
        return backbone
    architectures = _architectures(
        name,
        options,
        "encoder model",
        "pass a folder with config.json (or a hub id), or set the side's backbone=encoder|decoder",
    )
    if any(a.endswith("ForCausalLM") or a == "is_decoder" for a in architectures):
        return Backbone.decoder
    return Backbone.encoder


def model_kind(name: str, options: LoadOptions, field: str = "encoder model") -> str:
    """`mlm`, `causal` or `base`: the Auto class that loads the checkpoint with every head it has."""
    architectures = _architectures(name, options, field, "pass a folder with config.json, or a hub id")
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return "mlm"
    if any(a.endswith("ForCausalLM") for a in architectures):
        return "causal"
    return "base"


def load_model(name: str, kind: str, options: LoadOptions) -> Any:
    """kind: `mlm` (masked LM), `causal` (causal LM) or `base` (hidden states only), in eval mode on the device."""
    return load_model_and_extra(name, kind, options)[0]


def load_model_and_extra(name: str, kind: str, options: LoadOptions, field: str = "encoder model") -> tuple[Any, list]:
    """load_model's model, and the checkpoint keys the model class did not take (sorted): a
    uniCOIL `tok_proj` head beside a masked LM, say."""
    import transformers
    from safetensors import SafetensorError

    _quiet()
    classes = {
        "mlm": transformers.AutoModelForMaskedLM,
        "causal": transformers.AutoModelForCausalLM,
        "base": transformers.AutoModel,
    }
    try:
        model, info = classes[kind].from_pretrained(
            name, dtype=torch_dtype(options.dtype), output_loading_info=True, **_common(options)
        )
    except (OSError, ValueError, KeyError) as err:  # ValueError, KeyError: an architecture this Auto class lacks
        raise InputError(
            f"cannot load the model ({str(err).splitlines()[0]})",
            where=f"{field} {name}",
            fix="pass a hub id (with network access) or a folder with config.json and model.safetensors",
        ) from None
    except SafetensorError as err:  # a truncated or overwritten weights file
        raise InputError(
            f"the weights file cannot be read ({str(err).splitlines()[0]})",
            where=f"{field} {name}",
            fix="replace it with an intact copy: download it again, or delete the run and rerun the command that wrote it",
        ) from None
    return model.to(torch_device(options.device)).eval(), sorted(info.get("unexpected_keys", []))


def model_file(name: str, filename: str, options: LoadOptions) -> Path:
    """A file of a checkpoint: inside a local folder, or downloaded from the hub repo."""
    local = Path(name) / filename
    if local.is_file():
        return local
    if Path(name).is_dir():
        raise InputError(f"{filename} not found", where=str(local), fix="put the file there or give a path")
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(name, filename, revision=options.revision, local_files_only=options.local_files_only)
        )
    # The hub's errors are OSErrors in huggingface_hub 0.x and plain Exceptions in 1.x.
    except Exception as err:  # noqa: BLE001
        raise InputError(
            f"cannot download {filename} from {name} ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
            where=f"encoder model {name}",
            fix="check the file name and the network, or pass a local folder that holds it",
        ) from None


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
        from sparsecli.runs.rundir import read_done

        done = read_done(name)  # a run directory that is a checkpoint (`sparse prune`): its key
        if done is not None and "key" in done:
            record["run"] = {"command": done.get("command"), "key": done["key"], "path": str(Path(name).resolve())}
    return record
