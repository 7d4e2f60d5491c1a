"""The two-tower model (model=two_tower) with self-supervised feature masking: mutual
information and CFM's groups against hand computations, and runs that train and repeat."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from sparsecli.recommend.models import two_tower
from test_m2trec import with_metadata
from test_rec import SMALL


def reference_mi(a, b) -> float:
    """I(A;B) = sum p(a,b) log p(a,b) / (p(a) p(b)), by counting."""
    n = len(a)
    joint, pa, pb = Counter(zip(a, b)), Counter(a), Counter(b)
    return sum(c / n * math.log((c / n) / (pa[x] / n * pb[y] / n)) for (x, y), c in joint.items())


def test_mutual_information_of_copies_and_of_independent_fields():
    assert two_tower.mutual_information(np.array([0, 0, 1, 1]), np.array([5, 5, 7, 7])) == pytest.approx(math.log(2))
    assert two_tower.mutual_information(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])) == pytest.approx(0, abs=1e-15)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 200), rng.integers(0, 3, 200)
    assert two_tower.mutual_information(a, b) == pytest.approx(reference_mi(a.tolist(), b.tolist()), abs=1e-12)


def test_cfm_masks_each_seed_with_its_most_informative_fields():
    columns = [
        np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        np.array([0, 0, 0, 0, 1, 1, 1, 0]),  # f0 but one
        np.array([0, 1, 0, 1, 0, 1, 0, 1]),  # independent of f0
        np.array([0, 1, 0, 1, 0, 1, 1, 1]),  # f2 but one
    ]
    mi = two_tower.mi_matrix(columns)
    for i in range(4):
        for j in range(4):
            assert mi[i, j] == pytest.approx(reference_mi(columns[i].tolist(), columns[j].tolist()), abs=1e-12)
    assert mi[0, 2] == pytest.approx(0, abs=1e-15) and mi[0, 1] > mi[0, 3] and mi[2, 3] > mi[2, 1]
    assert two_tower.correlated_groups(mi) == [[0, 1], [0, 1], [2, 3], [2, 3]]


@pytest.mark.parametrize("ssl", ["rfm", "cfm"])
def test_two_tower_trains_with_feature_masking_and_repeats_its_bytes(sparse, tmp_path, ssl):
    folder = with_metadata(tmp_path / "rule")
    args = [a for a in SMALL if not a.startswith(("model", "trainer.max_epochs"))]
    common = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *args, "model=two_tower",
              f"model.ssl={ssl}", "model.dim=16", "model.field_dim=8", "model.max_len=10", "trainer.max_epochs=3",
              "loss=sampled_softmax", "loss.sampler=popularity", "loss.negatives=8")  # fmt: skip
    first = sparse(*common, f"runs_root={tmp_path / 'a'}")
    second = sparse(*common, f"runs_root={tmp_path / 'b'}")
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr
    assert (first.run_dir / "model.safetensors").read_bytes() == (second.run_dir / "model.safetensors").read_bytes()
    bad = sparse(*common, "model.ssl=cutout")
    assert bad.exit_code != 0 and "model.ssl" in bad.stderr.strip().splitlines()[-1]
