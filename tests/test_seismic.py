"""The Seismic-style approximate index: exactness in the limit, determinism, integrity."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecli.errors import ConfigError, InputError
from sparsecli.retrieval.exact import index as inverted
from sparsecli.retrieval.exact import search as exact
from sparsecli.retrieval.seismic import build, index as seismic_index
from sparsecli.retrieval.seismic import search as approx
from sparsecli.retrieval.seismic.build_kernels import _mass_cut
from sparsecli.retrieval.seismic.config import ApproxSearchConfig, SeismicIndexConfig

SEED = 42


def settings(query_cut, heap_factor, n_knn=0):
    return ApproxSearchConfig(query_cut=query_cut, heap_factor=heap_factor, n_knn=n_knn)


def seismic_build(docs, **params):
    return build.build(docs, SeismicIndexConfig(**params), SEED)


from conftest import TINY
from test_search import vectors


def collection(n_docs=3000, n_terms=400, seed=3):
    rng = np.random.default_rng(seed)
    # Weights 1..3 are exact in the 16-bit fixed point (3 / 65535 x 21845 = 1), so scores tie
    # exactly as in float search and the tie-break can be compared too.
    docs = sp.random(n_docs, n_terms, density=0.03, random_state=rng, data_rvs=lambda n: rng.integers(1, 4, n)).tocsr()
    queries = sp.random(40, n_terms, density=0.03, random_state=rng, data_rvs=lambda n: rng.integers(1, 3, n)).tocsr()
    ids = [f"d{i}" for i in rng.permutation(n_docs)]
    return vectors(docs, ids), vectors(queries, [f"q{i}" for i in range(40)])


def test_mass_cut_keeps_the_fewest_largest_values():
    values = np.array([2.0, 5.0, 3.0], dtype=np.float32)
    assert _mass_cut(values.copy(), 3, 0.4 * 10) == (5.0, 0, 1)  # 5 alone reaches 40% of 10
    assert _mass_cut(values.copy(), 3, 0.6 * 10) == (3.0, 1, 1)  # 5 + 3
    ties = np.array([1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    assert _mass_cut(ties, 4, 2.5) == (1.0, 0, 3)  # three of the four equal values


def test_without_pruning_approximate_search_is_exact():
    docs, queries = collection()
    params = dict(n_postings=10**6)  # keep every posting
    index = seismic_build(docs, **params)
    wide = settings(1000, 1e-6)  # every term, no block skipped
    ranking, scored = approx.search(index, queries, 10, wide)
    truth = exact.search(inverted.build(docs), queries, 10)
    for q in range(queries.n_rows):
        assert ranking.docs[q, : ranking.counts[q]].tolist() == truth.docs[q, : truth.counts[q]].tolist()
    np.testing.assert_allclose(ranking.scores, truth.scores, rtol=1e-6)
    assert approx.accuracy(ranking, truth, 10) == 1.0
    tight = approx.search(index, queries, 10, settings(2, 1.0))[1]
    assert tight.sum() < scored.sum()  # pruning scores fewer documents


def test_build_is_deterministic_and_thread_independent():
    import numba

    docs, _ = collection(seed=4)
    first = seismic_build(docs, n_postings=20, knn=3)
    numba.set_num_threads(1)
    try:
        second = seismic_build(docs, n_postings=20, knn=3)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert first.arrays.keys() == second.arrays.keys() and "knn" in first.arrays
    for name in first.arrays:
        np.testing.assert_array_equal(first.arrays[name], second.arrays[name], err_msg=name)


def test_static_pruning_keeps_exactly_the_global_budget():
    """Global pruning keeps the n_terms x n_postings largest weights collection-wide (ties in
    term order, then lower doc first), at most n_postings x max_fraction a list: checked list
    by list against a plain sort."""
    docs, _ = collection()
    index = seismic_build(docs, n_postings=50, max_fraction=1.5)
    matrix = sp.csr_matrix((docs.data, docs.indices, docs.indptr), shape=(docs.n_rows, docs.n_cols)).tocsc()
    budget, cap = 400 * 50, 75
    weights = np.sort(matrix.data)[::-1]
    threshold = weights[budget - 1]
    ties_left = budget - int((weights > threshold).sum())
    a = index.arrays
    kept_total = 0
    for term in range(docs.n_cols):
        column = matrix.getcol(term)
        rows, values = column.indices, column.data
        order = sorted(range(len(rows)), key=lambda i: (-values[i], rows[i]))
        above = int((values > threshold).sum())
        ties = min(int((values == threshold).sum()), ties_left)
        ties_left -= ties
        size = min(above + ties, cap)
        expected = sorted(int(rows[i]) for i in order[:size])
        blocks = range(a["list_block_ptr"][term], a["list_block_ptr"][term + 1])
        got = sorted(int(d) for b in blocks for d in a["block_docs"][a["block_doc_ptr"][b] : a["block_doc_ptr"][b + 1]])
        assert got == expected, term
        kept_total += size
    assert kept_total == len(a["block_docs"]) and kept_total < budget  # some lists hit the cap of 75


def test_single_queries_match_the_batch_and_save_load(tmp_path):
    docs, queries = collection(seed=5)
    index = seismic_build(docs, n_postings=60)
    seismic_index.save(index, tmp_path / "index")
    loaded = seismic_index.load(tmp_path / "index", verify=True)
    assert isinstance(loaded.arrays["fwd_entries"], np.memmap)
    searcher = approx.Searcher(loaded, threads=1)
    params = settings(3, 0.9)
    batch, _ = searcher.search(queries, 10, params)
    exclude = batch.docs[:, 0]  # each query without its best document
    batch_excluding, _ = searcher.search(queries, 10, params, exclude=exclude)
    for q in range(queries.n_rows):
        lo, hi = queries.indptr[q], queries.indptr[q + 1]
        terms, weights = queries.indices[lo:hi].astype(np.int64), queries.data[lo:hi]
        for ranking, skip in ((batch, -1), (batch_excluding, int(exclude[q]))):
            docs_one, scores_one = searcher.search_one(terms, weights, 10, params, exclude=skip)
            count = ranking.counts[q]
            assert docs_one.tolist() == ranking.docs[q, :count].tolist()
            assert scores_one.view(np.uint32).tolist() == ranking.scores[q, :count].view(np.uint32).tolist()
    assert (batch.counts == 10).all() and not (batch_excluding.docs == exclude[:, None]).any()
    manifest = tmp_path / "index" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["n_docs"] += 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(InputError, match="disagree"):
        seismic_index.load(tmp_path / "index")


def test_cli_approximate_search_reports_accuracy(sparse):
    enc = sparse("encode", "data=beir", f"data.path={TINY}")
    exact_index = sparse("index", f"encode_run={enc.run_dir}")
    wrong = sparse("search", f"index_run={exact_index.run_dir}", "search=approx_r95")
    assert wrong.exit_code == 2 and "index=seismic" in wrong.stderr
    idx = sparse("index", f"encode_run={enc.run_dir}", "index=seismic")
    assert idx.exit_code == 0, idx.stderr
    srch = sparse("search", f"index_run={idx.run_dir}", "search=approx", "search.k=5")
    assert srch.exit_code == 0, srch.stderr
    stats = json.loads((srch.run_dir / "stats.json").read_text())
    assert stats["accuracy@5"] == 1.0 and "accuracy@10" not in stats and stats["search"] == "approx"
    ev = sparse("eval", f"search_run={srch.run_dir}")
    header = next(line for line in ev.stdout.splitlines() if "nDCG@10" in line)
    row = next(line for line in ev.stdout.splitlines() if line.startswith("│ search/"))
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "run", "nDCG@10", "RR@10", "R@100", "R@1000", "accuracy@5 vs exact"
    ]  # fmt: skip
    assert [cell.strip() for cell in row.split("│")[2:-1]] == ["0.9201", "1.0000", "0.8333", "0.8333", "1.0000"]
    report = json.loads((ev.run_dir / "report.json").read_text())
    assert report["runs"][0]["accuracy"] == {"accuracy@5": 1.0}


def brute_force_neighbours(docs, n):
    """Each document's n best inner products among the others, ties by id descending."""
    matrix = sp.csr_matrix((docs.data, docs.indices, docs.indptr), shape=(docs.n_rows, docs.n_cols))
    scores = (matrix @ matrix.T).toarray()
    ids = docs.ids.tolist()
    out = []
    for d, row in enumerate(scores):
        found = sorted(((s, ids[o].encode(), o) for o, s in enumerate(row) if s > 0 and o != d), reverse=True)
        out.append([o for _, _, o in found[:n]] + [-1] * (n - len(found[:n])))
    return out


def test_knn_graph_with_exhaustive_search_is_the_exact_graph():
    docs, _ = collection(n_docs=400, n_terms=120, seed=6)
    params = dict(n_postings=10**6, knn=5, knn_query_cut=1000, knn_heap_factor=1e-6)
    index = seismic_build(docs, **params)
    assert index.arrays["knn"].tolist() == brute_force_neighbours(docs, 5)


def test_knn_refinement_scores_the_neighbours_of_every_result(tmp_path):
    """With query_cut=1 the search finds only documents holding the query's largest term; the
    refinement adds their graph neighbours, and the result is the exact top 10 of both sets."""
    docs, queries = collection(n_docs=600, n_terms=80, seed=8)
    params = dict(n_postings=10**6, knn=4, knn_query_cut=1000, knn_heap_factor=1e-6)
    seismic_index.save(seismic_build(docs, **params), tmp_path / "index")
    index = seismic_index.load(tmp_path / "index")
    searcher = approx.Searcher(index, threads=1)
    plain, plain_scored = searcher.search(queries, 10, settings(1, 1e-6))
    refined, refined_scored = searcher.search(queries, 10, settings(1, 1e-6, n_knn=4))
    truth = exact.search(inverted.build(docs), queries, 600)
    exact_rank = [dict(zip(truth.docs[q, : truth.counts[q]].tolist(), range(600))) for q in range(queries.n_rows)]
    graph = index.arrays["knn"]
    improved = 0
    for q in range(queries.n_rows):
        found = plain.docs[q, : plain.counts[q]].tolist()
        pool = set(found) | {int(n) for d in found for n in graph[d] if n >= 0}
        expected = sorted((d for d in pool if d in exact_rank[q]), key=exact_rank[q].get)[:10]
        assert refined.docs[q, : refined.counts[q]].tolist() == expected
        improved += expected != found
    assert improved > 0 and (refined_scored >= plain_scored).all()
    again, _ = searcher.search(queries, 10, settings(1, 1e-6))  # neighbours left no visited bits
    assert np.array_equal(again.docs, plain.docs)
    with pytest.raises(ConfigError, match="n_knn"):
        searcher.search(queries, 10, settings(1, 1e-6, n_knn=5))


def test_cli_knn_graph_and_refinement(sparse):
    enc = sparse("encode", "data=beir", f"data.path={TINY}")
    idx = sparse("index", f"encode_run={enc.run_dir}", "index=seismic", "index.knn=3")
    assert idx.exit_code == 0, idx.stderr
    srch = sparse("search", f"index_run={idx.run_dir}", "search=approx_r95", "search.n_knn=3")
    assert srch.exit_code == 0, srch.stderr
    stats = json.loads((srch.run_dir / "stats.json").read_text())
    assert stats["n_knn"] == 3 and stats["accuracy@10"] == 1.0
    too_many = sparse("search", f"index_run={idx.run_dir}", "search=approx", "search.n_knn=4")
    assert too_many.exit_code == 2 and "index.knn=4" in too_many.stderr
