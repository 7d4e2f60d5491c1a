"""The Seismic index format: pruned, blocked posting lists with quantised block
summaries, and a compact forward index for exact re-scoring.

Arrays (all memory-mappable .npy beside a versioned manifest):
- forward index: fwd_ptr and fwd_entries, each term | value << 16 in a uint32 (uint64 with
  32-bit terms for vocabularies over 65,536), the value a uint16 fixed point:
  weight = value x fwd_scale;
- blocks: list_block_ptr (the blocks of term t), block_doc_ptr, block_docs;
- summaries, per segment of <= 255 blocks of a list (list_seg_ptr), component-major:
  seg_comp_ptr, sum_comp, comp_count (uint8) with comp_sample (the entry offset of every
  16th component), and for each entry the block within its segment (sum_block, uint8) and
  an 8-bit code (sum_code); block_min / block_step dequantise: weight = min + code x step;
- optionally knn [n_docs, knn]: each document's approximate nearest neighbours by inner
  product, best first, -1 padded, found by searching the index with the document itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from sparsecli.errors import InputError
from sparsecli.io.arrays import StringArray, load_arrays, save_arrays
from sparsecli.retrieval.seismic.config import SEISMIC_INDEX

KIND = SEISMIC_INDEX
VERSION = 1


class SeismicIndex(NamedTuple):
    arrays: dict  # name -> array, as listed in the module docstring
    fwd_scale: float
    doc_ids: StringArray
    params: dict

    @property
    def n_docs(self) -> int:
        return len(self.arrays["fwd_ptr"]) - 1

    @property
    def n_terms(self) -> int:
        return len(self.arrays["list_block_ptr"]) - 1

    @property
    def term_bits(self) -> int:
        return 16 if self.arrays["fwd_entries"].dtype == np.uint32 else 32


def save(index: SeismicIndex, folder: Path, meta: dict | None = None) -> None:
    arrays = {**index.arrays, **index.doc_ids.arrays("doc_ids")}
    meta = {
        "n_docs": index.n_docs,
        "n_terms": index.n_terms,
        "fwd_scale": index.fwd_scale,
        "params": index.params,
        **(meta or {}),
    }
    save_arrays(folder, KIND, VERSION, arrays, meta)


def load(folder: Path, *, verify: bool = False) -> SeismicIndex:
    arrays, manifest = load_arrays(folder, KIND, VERSION, verify=verify)
    doc_ids = StringArray.from_arrays(arrays, "doc_ids")
    for name in ("doc_ids_offsets", "doc_ids_utf8"):
        arrays.pop(name)
    index = SeismicIndex(arrays, manifest["fwd_scale"], doc_ids, manifest["params"])
    a = index.arrays
    consistent = (
        index.n_docs == manifest["n_docs"] == len(doc_ids) == len(a["id_rank"])
        and index.n_terms == manifest["n_terms"]
        and a["block_doc_ptr"][-1] == len(a["block_docs"])
        and len(a["sum_comp"]) == len(a["comp_count"]) == a["seg_comp_ptr"][-1]
        and len(a["sum_code"]) == len(a["sum_block"]) == int(a["comp_count"].sum(dtype=np.int64))
        and ("knn" not in a or (a["knn"].ndim == 2 and len(a["knn"]) == index.n_docs))
    )
    if not consistent:
        raise InputError(
            "array lengths disagree", where=str(folder), fix="the index is corrupt; rebuild it (runtime.force=true)"
        )
    return index
