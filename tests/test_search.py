import numpy as np
import pytest
import scipy.sparse as sp

from sparsecli.errors import InputError
from sparsecli.io.arrays import StringArray
from sparsecli.io.vectors import SparseVectors
from sparsecli.retrieval.exact import index as inverted
from sparsecli.retrieval.exact.config import ExactAlgorithm
from sparsecli.retrieval.exact.search import search


def vectors(matrix: sp.csr_matrix, ids: list[str]) -> SparseVectors:
    matrix = sp.csr_matrix(matrix)
    matrix.sort_indices()
    return SparseVectors(
        matrix.indptr.astype(np.int64),
        matrix.indices.astype(np.int32),
        matrix.data.astype(np.float32),
        StringArray.pack(ids),
        matrix.shape[1],
    )


def brute_force(docs: sp.csr_matrix, queries: sp.csr_matrix, doc_ids: list[str], k: int, exclude=None):
    """scipy reference: score every doc, keep positive scores, order by (score, doc id) descending."""
    scores = (sp.csr_matrix(queries, dtype=np.float32) @ sp.csr_matrix(docs, dtype=np.float32).T).toarray()
    results = []
    for q, row in enumerate(scores):
        candidates = [
            (float(s), doc_ids[d].encode())
            for d, s in enumerate(row)
            if s > 0 and d != (exclude[q] if exclude is not None else -1)
        ]
        candidates.sort(reverse=True)
        results.append([(doc_id.decode(), s) for s, doc_id in candidates[:k]])
    return results


def ours(docs_m, queries_m, doc_ids, k, exclude=None, algorithm="taat"):
    index = inverted.build(vectors(docs_m, doc_ids))
    query_vectors = vectors(queries_m, [f"q{i}" for i in range(queries_m.shape[0])])
    skip = None if exclude is None else np.array(exclude, dtype=np.int32)
    ranking = search(index, query_vectors, k, skip, algorithm=ExactAlgorithm(algorithm))
    return [
        [
            (doc_ids[d], float(s))
            for d, s in zip(ranking.docs[q, : ranking.counts[q]], ranking.scores[q, : ranking.counts[q]])
        ]
        for q in range(query_vectors.n_rows)
    ]


ALGORITHMS = pytest.mark.parametrize("algorithm", [a.value for a in ExactAlgorithm])  # every search.algorithm


@ALGORITHMS
@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_exact_search_equals_brute_force_with_ties(k, algorithm):
    rng = np.random.default_rng(7)
    # Small integer weights make many exact score ties, so the tie-break is exercised.
    docs = sp.random(300, 40, density=0.1, random_state=rng, data_rvs=lambda n: rng.integers(1, 4, n)).tocsr()
    queries = sp.random(30, 40, density=0.15, random_state=rng, data_rvs=lambda n: rng.integers(1, 3, n)).tocsr()
    doc_ids = [f"doc{rng.integers(0, 10**6)}-{i}" for i in range(300)]
    assert ours(docs, queries, doc_ids, k, algorithm=algorithm) == brute_force(docs, queries, doc_ids, k)


@ALGORITHMS
def test_ties_are_broken_by_doc_id_descending(algorithm):
    docs = sp.csr_matrix(np.array([[1.0], [1.0], [1.0], [2.0]]))
    queries = sp.csr_matrix(np.array([[1.0]]))
    got = ours(docs, queries, ["b", "c", "a", "z"], 3, algorithm=algorithm)
    assert got == [[("z", 2.0), ("c", 1.0), ("b", 1.0)]]


@ALGORITHMS
def test_drop_self_and_short_result_lists(algorithm):
    docs = sp.csr_matrix(np.array([[1.0, 0], [0.5, 0], [0, 1.0]]))
    queries = sp.csr_matrix(np.array([[1.0, 0], [0, 0]]))
    got = ours(docs, queries, ["d0", "d1", "d2"], 10, exclude=[0, -1], algorithm=algorithm)
    assert got == [[("d1", 0.5)], []]


@pytest.mark.parametrize("weights", ["ties", "wide"])
@pytest.mark.parametrize("k", [1, 8, 10, 20, 100])
def test_dense_group_floor_selection_equals_brute_force(k, weights):
    """Enough documents for the dense group-floor selection at every k here. Integer
    weights tie many documents at the floor itself; weights spread over 2^-20..2^20 put
    the k-th score more than 4 octaves below the top for some queries at k=100, where the
    floor falls back to 1."""
    rng = np.random.default_rng(3)
    draw = {"ties": lambda n: rng.integers(1, 3, n), "wide": lambda n: 2.0 ** rng.uniform(-20, 20, n)}[weights]
    docs = sp.random(4000, 20, density=0.3, random_state=rng, data_rvs=draw, dtype=np.float32).tocsr()
    queries = sp.random(20, 20, density=0.4, random_state=rng, data_rvs=draw, dtype=np.float32).tocsr()
    doc_ids = [f"d{rng.integers(0, 10**6)}-{i}" for i in range(4000)]
    assert ours(docs, queries, doc_ids, k) == brute_force(docs, queries, doc_ids, k)


@ALGORITHMS
@pytest.mark.parametrize("k", [1, 5, 10, 40])
def test_drop_self_when_self_is_the_best_match(k, algorithm):
    """Each query is a document, excluded from its own results: it is also its group's best
    score, which the dense selection's floor must not count."""
    rng = np.random.default_rng(5)
    docs = sp.random(2000, 30, density=0.3, random_state=rng, data_rvs=lambda n: rng.integers(1, 4, n)).tocsr()
    doc_ids = [f"d{i:05d}" for i in range(2000)]
    own = list(range(0, 2000, 50))
    queries = docs[own]
    assert ours(docs, queries, doc_ids, k, own, algorithm) == brute_force(docs, queries, doc_ids, k, own)


@pytest.mark.parametrize("k", [1, 10, 100])
def test_maxscore_scores_are_bit_identical_to_term_at_a_time(k):
    """Float weights, skewed lists and long queries: MaxScore prunes, yet sums every kept
    document in the same order, so rankings and float32 scores match exactly."""
    rng = np.random.default_rng(11)
    docs = sp.random(3000, 200, density=0.05, random_state=rng, dtype=np.float32).tocsr()
    docs.data = (docs.data * rng.zipf(1.5, docs.nnz).clip(1, 50)).astype(np.float32)
    queries = sp.random(40, 200, density=0.08, random_state=rng, dtype=np.float32).tocsr()
    doc_ids = [f"d{i}" for i in range(3000)]
    assert ours(docs, queries, doc_ids, k, algorithm="maxscore") == ours(docs, queries, doc_ids, k)


def test_threads_do_not_change_results():
    import numba

    rng = np.random.default_rng(3)
    docs = sp.random(500, 60, density=0.08, random_state=rng, dtype=np.float32).tocsr()
    queries = sp.random(40, 60, density=0.1, random_state=rng, dtype=np.float32).tocsr()
    ids = [str(i) for i in range(500)]
    numba.set_num_threads(1)
    single = ours(docs, queries, ids, 20)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert ours(docs, queries, ids, 20) == single


def test_index_round_trip_and_integrity_checks(tmp_path):
    docs = sp.csr_matrix(np.array([[1.0, 0, 2.0], [0, 3.0, 0]]))
    index = inverted.build(vectors(docs, ["x", "y"]))
    folder = tmp_path / "index"
    inverted.save(index, folder)
    loaded = inverted.load(folder, verify=True)
    assert isinstance(loaded.post_docs, np.memmap)  # memory-mapped, not read
    np.testing.assert_array_equal(loaded.term_ptr, [0, 1, 2, 3])
    np.testing.assert_array_equal(loaded.post_docs, [0, 1, 0])
    np.testing.assert_array_equal(loaded.post_weights, [1.0, 3.0, 2.0])
    assert loaded.doc_ids.tolist() == ["x", "y"]

    weights = folder / "post_weights.npy"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0xFF  # same size, different bytes: only the checksum notices
    weights.write_bytes(bytes(raw))
    inverted.load(folder)
    with pytest.raises(InputError, match="sha256"):
        inverted.load(folder, verify=True)
    weights.write_bytes(bytes(raw[:-4]))
    with pytest.raises(InputError, match="size"):
        inverted.load(folder)

    manifest = folder / "manifest.json"
    manifest.write_text(manifest.read_text().replace(f'"format_version": {inverted.VERSION}', '"format_version": 99'))
    with pytest.raises(InputError, match="format version 99"):
        inverted.load(folder)


def test_index_rejects_non_positive_weights():
    with pytest.raises(InputError, match="positive"):
        inverted.build(vectors(sp.csr_matrix(np.array([[1.0, -1.0]])), ["a"]))


def test_quantized_index_rounds_docs_and_queries():
    docs = sp.csr_matrix(np.array([[0.004, 0.5], [0.0151, 0.2]]))
    queries = sp.csr_matrix(np.array([[1.004, 0.0]]))
    index = inverted.build(vectors(docs, ["a", "b"]), quantize=100)
    np.testing.assert_array_equal(index.post_weights, [2.0, 50.0, 20.0])  # 0.004 * 100 rounds to 0: dropped
    ranking = search(index, vectors(queries, ["q"]), 2)
    assert ranking.counts[0] == 1 and ranking.scores[0, 0] == 200.0  # round(100.4) * round(1.51)


def test_non_positive_query_weights_are_ignored():
    docs = sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 2.0]]))
    query = vectors(sp.csr_matrix(np.array([[0.0, 1.0]])), ["q"])
    query = query._replace(data=np.array([1.0], np.float32))
    negative = query._replace(data=np.array([-1.0], np.float32))
    index = inverted.build(vectors(docs, ["a", "b"]))
    assert search(index, query, 5).counts[0] == 2 and search(index, negative, 5).counts[0] == 0


def test_quantization_survives_save_and_load(tmp_path):
    index = inverted.build(vectors(sp.csr_matrix(np.array([[0.5]])), ["a"]), quantize=10)
    inverted.save(index, tmp_path / "index")
    assert inverted.load(tmp_path / "index").quantize == 10


@pytest.mark.parametrize("k", [100, 2000])
def test_large_k_selection_uses_radix_sorted_buckets(k):
    """Thousands of candidates whose scores share their top bits: the radix path must agree too."""
    rng = np.random.default_rng(11)
    docs = sp.random(6000, 30, density=0.2, random_state=rng, data_rvs=lambda n: 1.0 + rng.random(n) * 0.01).tocsr()
    queries = sp.random(8, 30, density=0.3, random_state=rng, data_rvs=lambda n: rng.integers(1, 3, n)).tocsr()
    doc_ids = [f"d{i:05d}" for i in rng.permutation(6000)]
    got = ours(docs, queries, doc_ids, k)
    expected = brute_force(docs, queries, doc_ids, k)
    assert [[d for d, _ in row] for row in got] == [[d for d, _ in row] for row in expected]


@ALGORITHMS
def test_sparse_accumulation_mode_agrees_with_brute_force(algorithm):
    """Queries touching few postings of a large collection take the touched-list path."""
    rng = np.random.default_rng(5)
    docs = sp.random(20000, 500, density=0.002, random_state=rng, data_rvs=lambda n: rng.integers(1, 5, n)).tocsr()
    queries = sp.random(20, 500, density=0.01, random_state=rng, data_rvs=lambda n: rng.integers(1, 3, n)).tocsr()
    doc_ids = [str(i) for i in range(20000)]
    assert ours(docs, queries, doc_ids, 30, exclude=[0] * 20, algorithm=algorithm) == brute_force(
        docs, queries, doc_ids, 30, exclude=[0] * 20
    )
