"""Item metadata as index tables, for models that represent an item by what it is rather than
by a learned per-item ID (M2TRec).

A field's values are numbered 1.. in order of first appearance over the item numbers (0 = no
value: padding, and an item without a metadata row). A token field gives one index per item,
a token_seq field (genres, a category path split into levels, a title's words) up to the
longest list; tables are int64 [n_items, width]. Every item of the catalogue has its row,
seen in training or not: that is what lets a metadata model rank items it never trained on.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

import numpy as np


class ItemFeatures(NamedTuple):
    names: list[str]  # field names, in the order given
    tables: list[np.ndarray]  # int64 [n_items, width] per field: value numbers, 0 = none
    vocab: list[int]  # values per field + 1 (row 0 of an embedding: none)
    multi: list[bool]  # token_seq fields (several values per item)

    def spec(self) -> dict:
        """The shapes, for model.json: what rebuilding an empty model needs (placeholder)."""
        return {
            name: {"vocab": vocab, "width": int(table.shape[1]), "multi": multi}
            for name, table, vocab, multi in zip(self.names, self.tables, self.vocab, self.multi)
        }


def encode(item_meta: dict, fields: Sequence[str], n_items: int, where: str = "model.fields") -> ItemFeatures:
    """The index tables of `fields` (all metadata fields when empty) for items 0..n_items-1.

    Raises ConfigError naming `where` for a field the data does not have, or no metadata at all."""
    from sparsecli.errors import ConfigError

    available = sorted(item_meta)
    numeric = [f for f in available if any(_is_number(v) for v in item_meta[f])]
    chosen = list(fields) or [f for f in available if f not in numeric]  # all: the token fields
    if not fields and numeric:
        logging.getLogger("sparsecli").info("item metadata: %s hold numbers, left out", ", ".join(numeric))
    if not chosen:
        raise ConfigError(
            "the data has no item metadata fields (a .item file with only its id column has none)",
            where="data",
            fix="name a metadata file with fields beside the item id (data.item_meta.file, or a .item)",
        )
    missing = [f for f in chosen if f not in item_meta]
    if missing:
        raise ConfigError(
            f"no metadata field {missing[0]!r}", where=where, fix=f"choose from {', '.join(available) or 'none'}"
        )
    tables, vocab, multi = [], [], []
    for name in chosen:
        values = item_meta[name]
        if name in numeric:
            # each distinct number would become a token of its own: a price or a score is an item ID in disguise
            raise ConfigError(
                f"metadata field {name!r} holds numbers (float, float_seq); items are made of tokens",
                where=where,
                fix=f"leave it out (name the token fields in {where}=[...]), or declare it a token when it is a category",
            )
        lists = [v if isinstance(v, list) else ([] if v is None or v == "" else [v]) for v in values]
        numbers: dict[str, int] = {}
        width = max(1, max((len(v) for v in lists), default=1))
        table = np.zeros((n_items, width), dtype=np.int64)
        for item, row in enumerate(lists[:n_items]):
            for j, value in enumerate(row):
                table[item, j] = numbers.setdefault(str(value), len(numbers) + 1)
        if not numbers:  # every item would get one vector: nothing to rank by
            raise ConfigError(
                f"metadata field {name!r} has no value for any item",
                where=where,
                fix=f"fill it in the metadata file, or leave it out of {where}=[...]",
            )
        tables.append(table)
        vocab.append(len(numbers) + 1)
        multi.append(any(isinstance(v, list) for v in values))
    return ItemFeatures(chosen, tables, vocab, multi)


def _is_number(value) -> bool:
    return isinstance(value, float) or (isinstance(value, list) and bool(value) and isinstance(value[0], float))


def placeholder(spec: dict, n_items: int) -> ItemFeatures:
    """Empty tables of the recorded shapes (spec), to build a model whose saved weights and
    tables are then loaded into it."""
    names = list(spec)
    tables = [np.zeros((n_items, int(spec[n]["width"])), dtype=np.int64) for n in names]
    return ItemFeatures(names, tables, [int(spec[n]["vocab"]) for n in names], [bool(spec[n]["multi"]) for n in names])


def field_mean(embedding, values):
    """Each row's mean value embedding: values int64 [m, width] (0 = none) through `embedding`
    (an nn.Embedding, padding_idx 0) -> float [m, dim]; zero for a row without values."""
    present = (values != 0).unsqueeze(-1).float()
    return (embedding(values) * present).sum(1) / present.sum(1).clamp(min=1.0)
