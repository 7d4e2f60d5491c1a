"""The `model` group of `sparse train-rec`: the base config and one config per option, each
building its model (the implementations, which import torch, are imported only then). The
defaults are the published ones, with the reason beside each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, List

from sparsecli.schema import check, check_distinct, late_field, option


def _positive(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        check(value >= 1, f"model.{name}", f"must be >= 1, got {value}", f"pass e.g. model.{name}=2")


@dataclass
class ModelConfig:
    """Base of the `model` group: each option builds its RecModel (models/base.py)."""

    neural: ClassVar[bool] = True  # trained by recommend/train.py with a loss; else fit in closed form
    metadata: ClassVar[bool] = False  # built from item metadata (build's `features`)
    name: str = "?"
    max_len: int = 50  # the longest history a neural model reads (SASRec's n)

    def __post_init__(self) -> None:
        check(self.max_len >= 1, "model.max_len", f"must be >= 1, got {self.max_len}", "pass e.g. 50")

    def build(self, n_items: int, features=None, train=None):
        """The model; `features` (features.ItemFeatures) for models with metadata = True;
        `train` (the training Sequences) for statistics a model needs (two_tower's CFM)."""
        raise NotImplementedError


@option("model", "sasrec")
@dataclass
class SASRecConfig(ModelConfig):
    name: str = "sasrec"
    max_len: int = 50  # the paper's n for sparse data (Beauty); 200 for ML-1M
    dim: int = 64  # the paper's d for Beauty
    layers: int = 2  # the paper's b = 2 blocks
    heads: int = 1  # the paper uses one head; more did not help
    dropout: float = 0.5  # the paper's rate for the sparse Amazon data (0.2 for MovieLens)
    # Score with the input item embeddings, as the paper does; false: gSASRec's separate output layer.
    tie_output: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "dim", "layers", "heads")
        check(
            self.dim % self.heads == 0,
            "model.heads",
            f"must divide model.dim={self.dim}",
            "pass e.g. model.heads=1 or 2",
        )
        check(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)", "pass e.g. 0.2")

    def build(self, n_items: int, features=None, train=None):
        from sparsecli.recommend.models.sasrec import SASRec

        return SASRec(n_items, self)


@option("model", "gru4rec")
@dataclass
class GRU4RecConfig(ModelConfig):
    name: str = "gru4rec"
    max_len: int = 50  # as SASRec, so the two read the same history
    dim: int = 64  # item embedding size (RecBole's default)
    hidden: int = 128  # GRU state (RecBole's default)
    layers: int = 1  # one layer, as the paper's best runs
    dropout: float = 0.3  # embedding dropout (RecBole's default)

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "dim", "hidden", "layers")
        check(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)", "pass e.g. 0.3")

    def build(self, n_items: int, features=None, train=None):
        from sparsecli.recommend.models.gru4rec import GRU4Rec

        return GRU4Rec(n_items, self)


@option("model", "bert4rec")
@dataclass
class BERT4RecConfig(ModelConfig):
    name: str = "bert4rec"
    max_len: int = 50  # the paper's N for Beauty
    dim: int = 64  # the paper's d
    layers: int = 2  # the paper's L
    heads: int = 2  # the paper's h
    dropout: float = 0.1  # the paper's rate
    mask_prob: float = 0.6  # the paper's rho for Beauty (0.2 for ML-1M)

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "dim", "layers", "heads")
        check(self.dim % self.heads == 0, "model.heads", f"must divide model.dim={self.dim}", "pass e.g. model.heads=2")
        check(0 < self.mask_prob < 1, "model.mask_prob", "must be in (0, 1)", "pass e.g. 0.2")
        check(self.max_len >= 2, "model.max_len", "must be >= 2 (one slot is the [mask])", "pass e.g. 50")

    def build(self, n_items: int, features=None, train=None):
        from sparsecli.recommend.models.bert4rec import BERT4Rec

        return BERT4Rec(n_items, self)


@option("model", "popularity")
@dataclass
class PopularityConfig(ModelConfig):
    neural: ClassVar[bool] = False
    name: str = "popularity"

    def build(self, n_items: int, features=None, train=None):
        from sparsecli.recommend.models.popularity import Popularity

        return Popularity(n_items)


@option("model", "ease")
@dataclass
class EASEConfig(ModelConfig):
    neural: ClassVar[bool] = False
    name: str = "ease"
    l2: float = 500.0  # the paper's lambda for ML-20M/Netflix scale; tune on validation for small data

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.l2 > 0, "model.l2", "must be > 0", "pass e.g. 500")

    def build(self, n_items: int, features=None, train=None):
        from sparsecli.recommend.models.ease import EASE

        return EASE(n_items, self.l2)


@option("model", "m2trec")
@dataclass
class M2TRecConfig(ModelConfig):
    """Metadata-aware, item-ID-free, multi-task (M2TRec, RecSys 2022; models/m2trec.py)."""

    metadata: ClassVar[bool] = True
    name: str = "m2trec"
    max_len: int = 50  # as SASRec
    dim: int = 64  # as SASRec, so the two compare at one width
    layers: int = 2  # as SASRec
    heads: int = 2  # 2 heads of 32
    dropout: float = 0.2  # the usual Transformer recommender rate
    fields: List[str] = field(default_factory=list)  # metadata fields an item is made of; [] = all token fields
    # fields whose value for the next item is also predicted (the paper's category levels): [] = none
    category_fields: List[str] = field(default_factory=list)
    lambda_category: float = 0.5  # weight of the category losses beside the next-item loss
    # session vector: the "last" position's encoding (SASRec's; README: the higher figures here), or
    # the "mean" of those so far (the paper's average pooling)
    pool: str = late_field("last")

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "dim", "layers", "heads")
        check(self.dim % self.heads == 0, "model.heads", f"must divide model.dim={self.dim}", "pass e.g. model.heads=2")
        check(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)", "pass e.g. 0.2")
        check(self.pool in ("mean", "last"), "model.pool", f"unknown pooling {self.pool!r}", "pass mean or last")
        check(self.lambda_category >= 0, "model.lambda_category", "must be >= 0", "pass e.g. 0.5 (0: single task)")
        check_distinct(self.fields, "model.fields", "name each field once")
        check_distinct(self.category_fields, "model.category_fields", "name each field once")
        extra = [f for f in self.category_fields if self.fields and f not in self.fields]
        check(not extra, "model.category_fields", f"{extra} are not among model.fields", "add them to model.fields")

    def build(self, n_items: int, features=None, train=None):
        from sparsecli.recommend.models.m2trec import M2TRec

        if features is None:
            raise ValueError("m2trec is built from item metadata")
        missing = [f for f in self.category_fields if f not in features.names]
        check(
            not missing,
            "model.category_fields",
            f"no metadata field {missing[0] if missing else ''!r} among the item's fields",
            f"choose from {', '.join(features.names)}",
        )
        return M2TRec(n_items, self, features)


@option("model", "two_tower")
@dataclass
class TwoTowerConfig(ModelConfig):
    """Two towers with self-supervised feature masking (Yao et al., CIKM 2021; two_tower.py)."""

    metadata: ClassVar[bool] = True
    name: str = "two_tower"
    max_len: int = 50  # as SASRec
    dim: int = 64  # as SASRec
    field_dim: int = 16  # each feature field's embedding, the ID's too
    fields: List[str] = field(default_factory=list)  # metadata fields of the item tower; [] = all token fields
    ssl: str = "none"  # none, rfm (random feature masking) or cfm (correlated, by mutual information)
    alpha: float = 0.1  # weight of the self-supervised loss (the paper tunes it in 0.1..3)
    temperature: float = 0.1  # InfoNCE temperature of the two views

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "dim", "field_dim")
        check(self.ssl in ("none", "rfm", "cfm"), "model.ssl", f"{self.ssl!r} is not none, rfm or cfm", "pass rfm")
        check(self.alpha >= 0, "model.alpha", "must be >= 0", "pass e.g. 0.1")
        check(self.temperature > 0, "model.temperature", "must be > 0", "pass e.g. 0.1")
        check_distinct(self.fields, "model.fields", "name each field once")

    def build(self, n_items: int, features=None, train=None):
        from sparsecli.recommend.models import two_tower

        if features is None:
            raise ValueError("two_tower is built from item metadata")
        groups = None
        if self.ssl == "cfm" and train is not None:  # training: mutual information over its interactions
            columns = two_tower.training_columns(features, train.items)
            groups = two_tower.correlated_groups(two_tower.mi_matrix(columns))
        return two_tower.TwoTower(n_items, self, features, groups)
