"""The benchmark scripts' summary arithmetic, on tiny inline records."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from bench_search import fastest_at, frontier_latency_at  # noqa: E402
from convergence import Curve, mean_curve, ratio, reach  # noqa: E402
from ties import group_mean_probability, metadata_groups, tie_figures  # noqa: E402


def point(accuracy, latency):
    return {"accuracy@10": accuracy, "latency_mean_us": latency}


def test_frontier_interpolates_between_the_points_around_the_target():
    # (0.96, 500) is dominated by (0.97, 400), so the frontier around 0.95 is 0.94 -> 0.97.
    records = [point(0.90, 100), point(0.94, 200), point(0.96, 500), point(0.97, 400), point(0.99, 900)]
    assert fastest_at(records, 0.95) == point(0.97, 400)
    assert frontier_latency_at(records, 0.95) == 266.7  # 200 + (0.01 / 0.03) * 200, to 0.1 us


def test_frontier_needs_points_on_both_sides():
    assert frontier_latency_at([point(0.96, 300), point(0.98, 400)], 0.95) is None
    assert frontier_latency_at([point(0.90, 300)], 0.95) is None


def test_convergence_is_the_first_step_at_the_baselines_best():
    baseline = ([10, 20, 30, 40], [0.1, 0.3, 0.3, 0.2])  # best 0.3, first at step 20
    assert reach(baseline, ([10, 20, 30, 40], [0.2, 0.25, 0.31, 0.5])) == (20, 30)
    assert ratio((20, 30)) == 1.5
    assert reach(baseline, ([10, 20], [0.3, 0.1])) == (20, 10)
    assert reach(baseline, ([10, 20], [0.29, 0.1])) == (20, None) and ratio((20, None)) == float("inf")


def test_mean_curves_average_epoch_by_epoch_up_to_the_shortest_run():
    steps, values = mean_curve(
        [Curve(0, "NDCG@10", [5, 10, 15], [0.1, 0.2, 0.4]), Curve(1, "NDCG@10", [5, 10], [0.3, 0.4])]
    )
    assert steps == [5, 10] and [round(v, 6) for v in values] == [0.2, 0.3]


def test_tie_rules_rank_the_target_last_on_average_or_first_among_its_ties():
    import math

    import numpy as np

    # k=3: alone at 1; one above and two tied (ranks 2..4); removed by the history mask; far down
    figures = tie_figures(np.array([0, 1, 0, 5]), np.array([1, 3, 0, 2]), 3)
    at = lambda rank: 1 / math.log2(rank + 1)  # noqa: E731
    assert figures.ndcg_pessimistic.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert np.allclose(figures.ndcg_expected, [1.0, (at(2) + at(3)) / 3, 0.0, 0.0], rtol=0, atol=1e-15)
    assert figures.ndcg_optimistic.tolist() == [1.0, at(2), 0.0, 0.0]
    assert figures.hr_pessimistic.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert figures.hr_expected.tolist() == [1.0, 2 / 3, 0.0, 0.0]
    assert figures.hr_optimistic.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_items_sharing_metadata_get_their_groups_mean_probability():
    import math

    import numpy as np
    import pytest

    from sparsecli.errors import InputError

    meta = {
        "genre": [["a", "b"], ["a", "b"], ["a"], None, ["a", "b"], []],
        "year": ["1995", "1995", "1995", "1995", "1996", "1995"],
    }
    groups = metadata_groups(meta, ["genre", "year"])
    assert groups.tolist() == [0, 0, 1, 2, 3, 2]  # items 3 and 5 have no genre: one value, as in M2TRec
    assert metadata_groups(meta, ["year"]).tolist() == [0, 0, 0, 0, 1, 0]
    nan = float("nan")
    assert metadata_groups({"p": [nan, float("nan"), None, 1.0, 1.0]}, ["p"]).tolist() == [0, 0, 0, 1, 1]
    assert metadata_groups({"g": [["a", "b"], ["b", "a"], ["a"]]}, ["g"]).tolist() == [0, 0, 1]  # order: no matter
    with pytest.raises(InputError, match="no metadata field 'title'"):
        metadata_groups(meta, ["title"])
    scores = np.log(np.array([[0.1, 0.3, 0.2, 0.1, 0.2, 0.1]], dtype=np.float32))
    coarse = group_mean_probability(scores, groups)
    assert np.allclose(coarse, [[0.2, 0.2, 0.2, 0.1, 0.2, 0.1]], rtol=0, atol=1e-7)
    assert coarse[0, 0] == coarse[0, 1] and coarse[0, 3] == coarse[0, 5] and coarse.dtype == np.float64
    assert math.isclose(group_mean_probability(scores, np.arange(6)).sum(), 1.0)
