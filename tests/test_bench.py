"""The benchmark scripts' summary arithmetic, on tiny inline records."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from bench_search import fastest_at, frontier_latency_at  # noqa: E402


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
