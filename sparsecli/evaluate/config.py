"""The `eval` group: measures in ir-measures notation, qrels, and the significance test."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import List, Optional

from sparsecli.schema import check, option, path_field


class SignificanceTest(Enum):
    ttest = "ttest"  # paired Student t-test over per-query values
    randomization = "randomization"  # paired randomization (permutation) test, seeded
    none = "none"


class MissingQueries(Enum):
    zero = "zero"  # a judged query with no results scores 0 (trec_eval -c, as Anserini reports)
    skip = "skip"  # average only over queries present in the run


@option("eval", "eval")
@dataclass
class EvalConfig:
    name: str = "default"
    measures: List[str] = field(default_factory=lambda: ["nDCG@10", "RR@10", "R@100", "R@1000"])
    qrels: Optional[str] = path_field()  # a TREC qrels file; default: the qrels of the upstream encode run
    missing_queries: MissingQueries = MissingQueries.zero
    significance: SignificanceTest = SignificanceTest.ttest
    permutations: int = 10000  # for the randomization test: p-values to about +-0.005 at 0.05
    alpha: float = 0.05  # the convention; the report marks p < alpha

    def __post_init__(self) -> None:
        check(bool(self.measures), "eval.measures", "is empty", "pass e.g. eval.measures=[nDCG@10]")
        check(0 < self.alpha < 1, "eval.alpha", "must be in (0, 1)", "pass e.g. 0.05")
        check(self.permutations > 0, "eval.permutations", "must be positive", "pass e.g. 10000")
