"""The JSONL vector format that Seismic and Anserini impact indexes read:
`{"id": "...", "vector": {"token": weight, ...}}`, one object per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from sparsecli.io.textfile import write_text
from sparsecli.io.vectors import SparseVectors


def _weights(values: np.ndarray, quantize: float | None) -> list:
    if quantize is None:
        # 9 significant digits round-trip float32 without float64 noise in the text.
        return [float(f"{v:.9g}") for v in values.astype(np.float64).tolist()]
    return np.rint(values.astype(np.float64) * quantize).astype(np.int64).tolist()


def vector_lines(vectors: SparseVectors, vocab: list[str], quantize: float | None) -> Iterator[str]:
    ids = vectors.ids.tolist()
    for row, row_id in enumerate(ids):
        terms, values = vectors.row(row)
        weights = _weights(np.asarray(values), quantize)
        vector = {vocab[t]: w for t, w in zip(terms.tolist(), weights) if w != 0}
        yield json.dumps({"id": row_id, "vector": vector}, ensure_ascii=False) + "\n"


def write_vectors(path: Path, vectors: SparseVectors, vocab: list[str], quantize: float | None = None) -> None:
    write_text(path, vector_lines(vectors, vocab, quantize))
