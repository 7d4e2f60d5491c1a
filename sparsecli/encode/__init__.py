"""Encoders: documents and queries to sparse vectors over a vocabulary.

One package per family of encoders, each with its config class (an option of the `encoder`
group, registered on import here) beside its code: `bm25/` (Lucene BM25) and `lsr/`
(learned sparse: SPLADE, inference-free, uniCOIL, LLM backbones).
"""

from sparsecli.encode.bm25 import config as _bm25  # noqa: F401  (registers encoder=bm25)
from sparsecli.encode.lsr import config as _lsr  # noqa: F401  (registers encoder=lsr and its presets' schema)
