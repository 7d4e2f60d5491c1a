"""What `meta.json` records about the environment a run executed in.

Versions come from package metadata, so recording them never imports torch or transformers.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import sparsecli

PACKAGES = (
    "numpy",
    "numba",
    "scipy",
    "torch",
    "transformers",
    "hydra-core",
    "omegaconf",
    "ir-measures",
    "datasets",
    "ir_datasets",
    "PyStemmer",
)
ENV_VARS = (
    "OMP_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "SLURM_JOB_ID",
    "RANK",
    "WORLD_SIZE",
)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"sparsecli": sparsecli.__version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(path: Path) -> dict | None:
    """Commit and dirty flag of the git checkout whose top level holds the package folder
    `path`: sparsecli's own source tree. None for an installed copy, even one in a
    virtualenv inside some other checkout, whose commit would say nothing of this code."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != path.resolve().parent:
            return None
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def collect(*, seed: int, threads: int, argv: list[str], overrides: list[str], config: dict) -> dict:
    """The environment of an attempt; `config` is what the run key hashes."""
    return {
        "sparsecli_version": sparsecli.__version__,
        "argv": argv,
        "overrides": overrides,
        "config": config,
        "seed": seed,
        "threads": threads,  # as asked (0 = all cores); threads_used is what the work ran on
        "versions": package_versions(),
        "git": git_state(Path(sparsecli.__file__).parent),
        "platform": platform.platform(),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "env": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        "executable": sys.executable,
    }
