import ir_measures
import numpy as np
import pytest
from scipy import stats

from sparsecli.errors import ConfigError
from sparsecli.evaluate import significance
from sparsecli.evaluate.measures import parse_measures, score_run

QRELS = {"q1": {"a": 2, "b": 1}, "q2": {"c": 1}, "q3": {"d": 1}}
RUN = {
    "q1": {"b": 3.0, "a": 2.0, "x": 1.0},  # relevant docs at ranks 1 and 2
    "q2": {"x": 2.0, "c": 1.0},  # relevant at rank 2
    "q9": {"a": 1.0},  # not judged: reported, not scored
}  # q3 has no results


def test_per_query_values_and_zero_for_missing_queries():
    measures = parse_measures(["RR@10", "R@1", "nDCG@10"])
    scores = score_run("r", RUN, QRELS, measures, zero_missing=True)
    assert scores.queries == ["q1", "q2", "q3"]
    assert scores.per_query["RR@10"] == {"q1": 1.0, "q2": 0.5, "q3": 0.0}
    assert scores.per_query["R@1"] == {"q1": 0.5, "q2": 0.0, "q3": 0.0}
    assert scores.aggregate["RR@10"] == pytest.approx(0.5)
    assert scores.unjudged_queries == ["q9"] and scores.queries_without_results == ["q3"]


@pytest.mark.parametrize("zero_missing", [True, False])
def test_aggregates_match_ir_measures(zero_missing):
    measures = parse_measures(["nDCG@10", "RR@10", "R@100", "AP"])
    scores = score_run("r", RUN, QRELS, measures, zero_missing=zero_missing)
    assert scores.queries == (["q1", "q2", "q3"] if zero_missing else ["q1", "q2"])
    # ir_measures scores judged queries without results as 0; "skip" drops them from the qrels.
    qrels = QRELS if zero_missing else {q: QRELS[q] for q in ("q1", "q2")}
    expected = ir_measures.calc_aggregate(list(measures.values()), qrels, RUN)
    for name, measure in measures.items():
        assert scores.aggregate[name] == pytest.approx(expected[measure], abs=1e-12)


def test_unknown_measure_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown measure 'nDCG@@10'"):
        parse_measures(["nDCG@@10"])


def test_paired_tests():
    a = np.array([0.1, 0.5, 0.9, 0.4, 0.3, 0.8])
    b = np.array([0.2, 0.4, 0.7, 0.1, 0.3, 0.5])
    assert significance.paired_ttest(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert significance.paired_ttest(a, a) == 1.0
    # 6 queries, 5 non-zero differences: the exact two-sided p-value over all 2^6 sign flips.
    flips = np.array(np.meshgrid(*[[-1, 1]] * 6)).reshape(6, -1).T
    diffs = a - b
    exact = np.mean(np.abs(flips @ diffs) >= abs(diffs.sum()) - 1e-12)
    p = significance.paired_randomization(a, b, permutations=20000, seed=0)
    assert p == significance.paired_randomization(a, b, permutations=20000, seed=0)  # seeded
    assert p == pytest.approx(exact, abs=0.01)
    assert significance.paired_randomization(a, a, permutations=100, seed=0) == 1.0
