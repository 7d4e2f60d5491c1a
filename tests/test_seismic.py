"""The Seismic-style approximate index: exactness in the limit, determinism, integrity."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecli.errors import ConfigError, InputError
from sparsecli.index import inverted, seismic
from sparsecli.kernels.seismic import _mass_cut
from sparsecli.search import approx, exact

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
    params = seismic.SeismicParams(n_postings=10**6)  # keep every posting
    index = seismic.build(docs, params)
    wide = approx.ApproxParams(query_cut=1000, heap_factor=1e-6)  # every term, no block skipped
    ranking, scored = approx.search(index, queries, 10, wide)
    truth = exact.search(inverted.build(docs), queries, 10)
    for q in range(queries.n_rows):
        assert ranking.docs[q, : ranking.counts[q]].tolist() == truth.docs[q, : truth.counts[q]].tolist()
    np.testing.assert_allclose(ranking.scores, truth.scores, rtol=1e-6)
    assert approx.accuracy(ranking, truth, 10) == 1.0
    tight = approx.search(index, queries, 10, approx.ApproxParams(query_cut=2, heap_factor=1.0))[1]
    assert tight.sum() < scored.sum()  # pruning scores fewer documents


def test_build_is_deterministic_and_thread_independent():
    import numba

    docs, _ = collection(seed=4)
    first = seismic.build(docs, seismic.SeismicParams(n_postings=20, knn=3))
    numba.set_num_threads(1)
    try:
        second = seismic.build(docs, seismic.SeismicParams(n_postings=20, knn=3))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert first.arrays.keys() == second.arrays.keys() and "knn" in first.arrays
    for name in first.arrays:
        np.testing.assert_array_equal(first.arrays[name], second.arrays[name], err_msg=name)


def test_static_pruning_budget():
    docs, _ = collection()
    index = seismic.build(docs, seismic.SeismicParams(n_postings=50, max_fraction=1.5))
    lengths = np.diff(index.arrays["block_doc_ptr"])
    per_list = np.add.reduceat(
        lengths, index.arrays["list_block_ptr"][:-1][np.diff(index.arrays["list_block_ptr"]) > 0]
    )
    assert per_list.max() <= 75 and lengths.sum() <= 400 * 50


def test_single_queries_match_the_batch_and_save_load(tmp_path):
    docs, queries = collection(seed=5)
    index = seismic.build(docs, seismic.SeismicParams(n_postings=60))
    seismic.save(index, tmp_path / "index")
    loaded = seismic.load(tmp_path / "index", verify=True)
    assert isinstance(loaded.arrays["fwd_entries"], np.memmap)
    searcher = approx.Searcher(loaded, threads=1)
    params = approx.ApproxParams(query_cut=3, heap_factor=0.9)
    batch, _ = searcher.search(queries, 10, params)
    for q in range(5):
        lo, hi = queries.indptr[q], queries.indptr[q + 1]
        one = queries._replace(indptr=np.array([0, hi - lo]), indices=queries.indices[lo:hi], data=queries.data[lo:hi])
        single, _ = searcher.search(one, 10, params)
        assert single.docs[0, : single.counts[0]].tolist() == batch.docs[q, : batch.counts[q]].tolist()
    manifest = tmp_path / "index" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["n_docs"] += 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(InputError, match="disagree"):
        seismic.load(tmp_path / "index")


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
    assert stats["accuracy@10"] == 1.0 and stats["accuracy@5"] == 1.0 and stats["search"] == "approx"
    ev = sparse("eval", f"search_run={srch.run_dir}")
    assert "accuracy@5 vs exact" in ev.stdout.replace("\n", " ") or "accuracy" in ev.stdout
    report = json.loads((ev.run_dir / "report.json").read_text())
    assert report["runs"][0]["accuracy"] == {"accuracy@5": 1.0, "accuracy@10": 1.0}


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
    params = seismic.SeismicParams(n_postings=10**6, knn=5, knn_query_cut=1000, knn_heap_factor=1e-6)
    index = seismic.build(docs, params)
    assert index.arrays["knn"].tolist() == brute_force_neighbours(docs, 5)


def test_knn_refinement_scores_the_neighbours_of_every_result(tmp_path):
    """With query_cut=1 the search finds only documents holding the query's largest term; the
    refinement adds their graph neighbours, and the result is the exact top 10 of both sets."""
    docs, queries = collection(n_docs=600, n_terms=80, seed=8)
    params = seismic.SeismicParams(n_postings=10**6, knn=4, knn_query_cut=1000, knn_heap_factor=1e-6)
    seismic.save(seismic.build(docs, params), tmp_path / "index")
    index = seismic.load(tmp_path / "index")
    searcher = approx.Searcher(index, threads=1)
    plain, plain_scored = searcher.search(queries, 10, approx.ApproxParams(1, 1e-6))
    refined, refined_scored = searcher.search(queries, 10, approx.ApproxParams(1, 1e-6, n_knn=4))
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
    again, _ = searcher.search(queries, 10, approx.ApproxParams(1, 1e-6))  # neighbours left no visited bits
    assert np.array_equal(again.docs, plain.docs)
    with pytest.raises(ConfigError, match="n_knn"):
        searcher.search(queries, 10, approx.ApproxParams(1, 1e-6, n_knn=5))


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
