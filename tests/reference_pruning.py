"""Independent reference implementations of published pruning formulas.

These functions are test oracles. They are written from the papers'
equations (numpy, float64, plain loops) and are deliberately kept free of
any code from ``sparsecli.sparsity``. Clarity beats speed here: use them
only on small inputs.

Layout convention everywhere: a Linear weight ``W`` is ``[out, in]``
(``y = x @ W.T``) and calibration inputs ``X`` are ``[tokens, in]``.
Masks are boolean with ``True`` meaning "keep".

Running ``python tests/reference_pruning.py`` executes the self-checks at the
bottom of the file (tiny inputs, well under a second of CPU).
"""

from __future__ import annotations

import math

import numpy as np

_FLOOR_EPS = 1e-9


def _robust_floor(x: float) -> int:
    """floor() that is not fooled by binary rounding (0.29 * 100 -> 29)."""
    return int(math.floor(x + _FLOOR_EPS))


def _as_f64_2d(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return a


# ---------------------------------------------------------------------------
# Wanda
# ---------------------------------------------------------------------------


def _wanda_scores(W, X) -> np.ndarray:
    """S_ij = |W_ij| * ||X_{:,j}||_2 (Sun et al. 2023, Sec. 3, Eq. 1)."""
    W = _as_f64_2d(W, "W")
    X = _as_f64_2d(X, "X")
    out_f, in_f = W.shape
    if X.shape[1] != in_f:
        raise ValueError(f"X has {X.shape[1]} features, W has {in_f} inputs")
    # Norm of input feature j over ALL tokens (one value per input column).
    norms = np.zeros(in_f, dtype=np.float64)
    for j in range(in_f):
        norms[j] = math.sqrt(float(np.sum(X[:, j] * X[:, j])))
    S = np.zeros((out_f, in_f), dtype=np.float64)
    for i in range(out_f):
        for j in range(in_f):
            S[i, j] = abs(W[i, j]) * norms[j]
    return S


def _prune_lowest(scores_1d: np.ndarray, k: int) -> np.ndarray:
    """Keep mask for a 1-D score vector with the k lowest scores pruned.

    Ties: the lower index is pruned first (stable ascending sort).
    """
    keep = np.ones(scores_1d.shape[0], dtype=bool)
    if k <= 0:
        return keep
    order = np.argsort(scores_1d, kind="stable")
    keep[order[:k]] = False
    return keep


def wanda_keep(W, X, sparsity):
    """Wanda unstructured keep mask (Sun, Liu, Bair, Kolter 2023,
    "A Simple and Effective Pruning Approach for Large Language Models",
    arXiv:2306.11695, Sec. 3).

    Score (Eq. 1): ``S_ij = |W_ij| * ||X_j||_2`` where ``X_j`` is input
    feature j taken over all calibration tokens (``X`` is ``[tokens, in]``).
    Comparison group (Sec. 3, "per output"): each output row of ``W``
    separately. In every row exactly ``floor(sparsity * in)`` of the lowest
    scores are pruned; ties are broken by pruning the lower column index
    first.

    Returns a bool ``[out, in]`` mask, True = keep.
    """
    S = _wanda_scores(W, X)
    out_f, in_f = S.shape
    if not (0.0 <= float(sparsity) <= 1.0):
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    k = _robust_floor(float(sparsity) * in_f)
    keep = np.ones((out_f, in_f), dtype=bool)
    for i in range(out_f):
        keep[i] = _prune_lowest(S[i], k)
    return keep


def wanda_nm_keep(W, X, n, m):
    """Wanda N:M keep mask (Sun et al. 2023, Sec. 3 "structured N:M
    sparsity"; groups as in locuslab/wanda ``prune_wanda`` with N:M).

    Same score as :func:`wanda_keep`. In every output row, the input columns
    are cut into consecutive groups ``[g*m, (g+1)*m)``; in each group the
    ``n`` highest scores are kept (``m - n`` lowest pruned, ties: lower
    column index pruned first). ``in`` must be divisible by ``m``.

    Returns a bool ``[out, in]`` mask, True = keep.
    """
    n = int(n)
    m = int(m)
    if not (0 <= n <= m) or m <= 0:
        raise ValueError(f"invalid N:M = {n}:{m}")
    S = _wanda_scores(W, X)
    out_f, in_f = S.shape
    if in_f % m != 0:
        raise ValueError(f"in_features={in_f} not divisible by m={m}")
    keep = np.ones((out_f, in_f), dtype=bool)
    for i in range(out_f):
        for g in range(0, in_f, m):
            keep[i, g : g + m] = _prune_lowest(S[i, g : g + m], m - n)
    return keep


# ---------------------------------------------------------------------------
# SparseGPT
# ---------------------------------------------------------------------------


def _upper_cholesky_of_inverse(H: np.ndarray) -> np.ndarray:
    """Upper-triangular U with inv(H) = U^T U."""
    Hinv = np.linalg.inv(H)
    Hinv = 0.5 * (Hinv + Hinv.T)  # symmetrise against round-off
    L = np.linalg.cholesky(Hinv)  # Hinv = L L^T, L lower
    return L.T  # U = L^T upper, Hinv = U^T U


def sparsegpt(W, X, sparsity=None, nm=None, blocksize=128, percdamp=0.01):
    """SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models
    Can Be Accurately Pruned in One-Shot", ICML 2023, Algorithm 1 and
    Sec. 3.2-3.4; lazy batched updates as in Sec. 3.3/"Algorithm 1").

    Steps, with ``W`` ``[out, in]`` and ``X`` ``[tokens, in]``:

    1. ``H = X^T X`` (float64). Dead inputs (``H_jj == 0``): ``H_jj = 1``
       and ``W[:, j] = 0``.
    2. Dampening: ``H += percdamp * mean(diag(H)) * I``.
    3. ``U`` = upper Cholesky factor of ``inv(H)``, i.e. ``inv(H) = U^T U``
       (Algorithm 1, line "H^-1 <- Cholesky(H^-1)^T").
    4. Columns are processed in blocks of ``blocksize`` (``B_s`` in the
       paper, adaptive mask selection).

       * Unstructured (``sparsity`` given): at the start of each block the
         mask of the whole block ``[rows, block cols]`` is chosen from the
         saliency ``w^2 / U_cc^2`` (Eq. 3 / OBS saliency with the diagonal of
         the Cholesky factor), pruning exactly
         ``floor(sparsity * rows * blockcols)`` lowest saliencies over the
         block (ties: lower row-major flat index pruned first).
       * N:M (``nm=(n, m)``, keep n of m consecutive input columns per row,
         Sec. 3.5): at block column ``i`` with ``i % m == 0`` the ``m - n``
         lowest saliencies of columns ``i..i+m-1`` are pruned per row, using
         the current (already updated) block weights; ties: lower index.

    5. For each column ``i`` of the block: ``q = w`` with pruned entries
       set to 0, ``err = (w - q) / U_ii``, and
       ``W1[:, i:] -= outer(err, U[i, i:])``. After the block:
       ``W[:, end:] -= Err_block @ U[start:end, end:]``.

    Returns ``(W_new, keep)``: float64 ``[out, in]`` with exact zeros at
    pruned positions (column ``i`` of the output is set to ``q`` itself, as
    the reference stores ``Q1[:, i] = q``), and bool ``[out, in]``
    (True = keep).
    """
    if (sparsity is None) == (nm is None):
        raise ValueError("give exactly one of sparsity= or nm=")
    W = _as_f64_2d(W, "W").copy()
    X = _as_f64_2d(X, "X")
    rows, cols = W.shape
    if X.shape[1] != cols:
        raise ValueError(f"X has {X.shape[1]} features, W has {cols} inputs")
    blocksize = int(blocksize)
    if blocksize <= 0:
        raise ValueError("blocksize must be positive")
    if nm is not None:
        n_keep, m = int(nm[0]), int(nm[1])
        if not (0 <= n_keep <= m) or m <= 0:
            raise ValueError(f"invalid N:M = {nm}")
        if cols % m != 0:
            raise ValueError(f"in_features={cols} not divisible by m={m}")
    else:
        sparsity = float(sparsity)
        if not (0.0 <= sparsity <= 1.0):
            raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")

    # 1. Hessian of the layer-wise reconstruction loss (up to a factor 2).
    H = X.T @ X
    for j in range(cols):
        if H[j, j] == 0.0:
            H[j, j] = 1.0
            W[:, j] = 0.0
    # 2. Dampening.
    damp = percdamp * float(np.mean(np.diag(H)))
    for j in range(cols):
        H[j, j] += damp
    # 3. Upper Cholesky factor of the inverse Hessian.
    U = _upper_cholesky_of_inverse(H)

    keep = np.ones((rows, cols), dtype=bool)
    Q = np.zeros((rows, cols), dtype=np.float64)

    for b0 in range(0, cols, blocksize):
        b1 = min(b0 + blocksize, cols)
        bc = b1 - b0
        W1 = W[:, b0:b1].copy()
        Q1 = np.zeros((rows, bc), dtype=np.float64)
        Err1 = np.zeros((rows, bc), dtype=np.float64)
        U1 = U[b0:b1, b0:b1]
        prune1 = np.zeros((rows, bc), dtype=bool)  # True = pruned

        if nm is None:
            # Mask for the whole block, chosen once at the block start.
            sal = np.zeros((rows, bc), dtype=np.float64)
            for r in range(rows):
                for c in range(bc):
                    sal[r, c] = W1[r, c] ** 2 / U1[c, c] ** 2
            k = _robust_floor(sparsity * rows * bc)
            flat = sal.reshape(-1)  # row-major flat index r * bc + c
            order = np.argsort(flat, kind="stable")
            pruned_flat = np.zeros(rows * bc, dtype=bool)
            pruned_flat[order[:k]] = True
            prune1 = pruned_flat.reshape(rows, bc)

        for i in range(bc):
            col = b0 + i  # global column index
            if nm is not None and col % m == 0:
                # N:M group starting here, chosen from the CURRENT weights.
                # (The group never straddles a block boundary when blocksize
                # is a multiple of m; if it does, the tail of the group uses
                # the columns of this block that exist.)
                g_end = min(i + m, bc)
                for r in range(rows):
                    sal = np.array([W1[r, c] ** 2 / U1[c, c] ** 2 for c in range(i, g_end)])
                    n_prune = m - n_keep
                    order = np.argsort(sal, kind="stable")
                    for t in order[:n_prune]:
                        prune1[r, i + t] = True
            w = W1[:, i].copy()
            d = U1[i, i]
            q = w.copy()
            q[prune1[:, i]] = 0.0
            Q1[:, i] = q
            err = (w - q) / d
            # Update the remaining columns of the block (including column i,
            # which becomes q up to round-off; Q1 keeps the exact q).
            W1[:, i:] -= np.outer(err, U1[i, i:])
            Err1[:, i] = err

        Q[:, b0:b1] = Q1
        keep[:, b0:b1] = ~prune1
        # Lazy batch update of all columns to the right of the block.
        if b1 < cols:
            W[:, b1:] -= Err1 @ U[b0:b1, b1:]

    Q[~keep] = 0.0  # exact zeros (also turns any -0.0 into +0.0)
    return Q, keep


# ---------------------------------------------------------------------------
# Erdos-Renyi(-Kernel) allocation (RigL)
# ---------------------------------------------------------------------------


def erk_densities(shapes, density, erk_power_scale=1.0, kernel=True):
    """Erdos-Renyi / Erdos-Renyi-Kernel layer densities (Evci et al.,
    "Rigging the Lottery: Making All Tickets Winners", ICML 2020, Sec. 3
    "Sparsity distribution"; google-research/rigl
    ``sparse_utils.get_sparsities_erdos_renyi``).

    For each layer l with shape ``s`` and ``numel_l = prod(s)``:

    * ERK (``kernel=True``): ``raw_l = (sum(s) / prod(s)) ** erk_power_scale``
    * ER  (``kernel=False``): ``raw_l = ((s[0] + s[1]) / (s[0] * s[1]))
      ** erk_power_scale`` (PyTorch layout ``(out, in, ...)``).

    Layer density is ``eps * raw_l``; eps solves
    ``sum_{l not dense} eps * raw_l * numel_l
    = density * sum_{all l} numel_l - sum_{l dense} numel_l``
    (the global density is preserved, exactly as in the RigL code where a
    dense layer subtracts its ``n_zeros`` from the right-hand side). If the
    largest ``eps * raw_l`` exceeds 1, the layer(s) with the largest
    ``raw_l`` are marked dense (density 1.0) and eps is re-solved; repeat.

    Returns ``{name: density}`` (floats).
    """
    density = float(density)
    if not (0.0 <= density <= 1.0):
        raise ValueError(f"density must be in [0, 1], got {density}")
    names = list(shapes)
    numel = {}
    raw = {}
    for name in names:
        s = tuple(int(v) for v in shapes[name])
        if len(s) < 2:
            raise ValueError(f"{name}: need at least 2 dims, got {s}")
        numel[name] = float(np.prod(s, dtype=np.float64))
        if kernel:
            r = float(sum(s)) / numel[name]
        else:
            r = float(s[0] + s[1]) / float(s[0] * s[1])
        raw[name] = r ** float(erk_power_scale)

    dense = set()
    eps = 0.0
    while True:
        rhs = 0.0
        divisor = 0.0
        for name in names:
            n_ones = density * numel[name]
            n_zeros = numel[name] - n_ones
            if name in dense:
                rhs -= n_zeros
            else:
                rhs += n_ones
                divisor += raw[name] * numel[name]
        live = [nm_ for nm_ in names if nm_ not in dense]
        if not live or divisor == 0.0:
            break
        eps = rhs / divisor
        max_raw = max(raw[nm_] for nm_ in live)
        if eps * max_raw > 1.0:
            # Mark the layer(s) with the largest raw probability dense
            # (all exact ties at once, as the RigL code does).
            for nm_ in live:
                if raw[nm_] == max_raw:
                    dense.add(nm_)
        else:
            break

    out = {}
    for name in names:
        out[name] = 1.0 if name in dense else float(eps * raw[name])
    return out


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------


def cubic_sparsity(step, s_i, s_f, t0, dt, n):
    """Gradual (cubic) sparsity schedule of Zhu & Gupta 2017, "To prune, or
    not to prune", arXiv:1710.01878, Sec. 3, Eq. (1):

        s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3,
        t in {t0, t0 + dt, ..., t0 + n * dt}.

    The masks (hence the applied sparsity) only change at those update
    steps and are held in between ("step" convention, not the continuous
    curve). Before t0 the sparsity is s_i; from t0 + n*dt on it is s_f.
    The update index ``k = floor((t - t0) / dt)`` is clamped to [0, n], so
    the first update (k = 0) keeps s_i and the last (k = n) reaches s_f.
    """
    n = int(n)
    if n <= 0 or dt <= 0:
        raise ValueError("need n >= 1 and dt > 0")
    if step < t0:
        return float(s_i)
    k = int((step - t0) // dt)
    if k >= n:
        return float(s_f)
    frac = 1.0 - k / n
    return float(s_f + (s_i - s_f) * frac**3)


def rigl_drop_fraction(step, alpha, t_end):
    """RigL cosine drop-fraction schedule (Evci et al. 2020, Eq. 1):

    f_decay(t) = alpha / 2 * (1 + cos(pi * t / T_end))   for t < T_end,
    0 afterwards (no more connectivity updates).
    """
    if step >= t_end:
        return 0.0
    return float(alpha / 2.0 * (1.0 + math.cos(math.pi * step / t_end)))


# ---------------------------------------------------------------------------
# Self-checks
# ---------------------------------------------------------------------------

if __name__ == "__main__":
    import json
    import os

    CASES = "/work/shared/cases/prune"
    n_ok = 0

    def ok(msg):
        global n_ok
        n_ok += 1
        print(f"ok  {msg}")

    # --- floor robustness ---------------------------------------------
    assert _robust_floor(0.29 * 100) == 29
    assert _robust_floor(0.5 * 7) == 3
    ok("robust floor (0.29*100 -> 29, 0.5*7 -> 3)")

    # --- Wanda against shared case wanda_norm_axis ---------------------
    d = os.path.join(CASES, "wanda_norm_axis")
    if os.path.isdir(d):
        Wc = np.load(os.path.join(d, "weight.npy")).astype(np.float64)
        Xc = np.load(os.path.join(d, "inputs.npy")).astype(np.float64)
        Xc = Xc.reshape(-1, Xc.shape[-1])  # [batch, seq, in] -> [tokens, in]
        with open(os.path.join(d, "expected.json")) as f:
            exp = json.load(f)
        S = _wanda_scores(Wc, Xc)
        assert np.allclose(S, np.array(exp["scores S"]), atol=1e-6), S
        k_un = wanda_keep(Wc, Xc, 0.5)
        assert np.array_equal(k_un.astype(int), np.array(exp["mask_unstructured_50pct_per_row (1 = keep)"])), (
            k_un.astype(int)
        )
        k_nm = wanda_nm_keep(Wc, Xc, 2, 4)
        assert np.array_equal(k_nm.astype(int), np.array(exp["mask_2:4 (1 = keep)"])), k_nm
        pruned = np.where(k_un, Wc, 0.0)
        assert np.allclose(pruned, np.array(exp["pruned_weight"]), atol=1e-6)
        ok("wanda_norm_axis: scores, unstructured 50% mask, 2:4 mask, pruned weight")
    else:
        print(f"SKIP {d} not found")

    # --- N:M along the input axis (shared case nm_axis) ----------------
    d = os.path.join(CASES, "nm_axis")
    if os.path.isdir(d):
        Wl = np.load(os.path.join(d, "linear_weight.npy")).astype(np.float64)
        Wt = np.load(os.path.join(d, "conv1d_weight.npy")).astype(np.float64)
        with open(os.path.join(d, "expected.json")) as f:
            exp = json.load(f)
        # Unit-norm calibration features turn the Wanda score into |w|.
        I = np.eye(Wl.shape[1])
        k_l = wanda_nm_keep(Wl, I, 2, 4)
        assert np.array_equal(k_l.astype(int), np.array(exp["mask_linear [out,in] (1 = keep)"]))
        k_c = wanda_nm_keep(Wt.T, I, 2, 4).T  # Conv1D [in, out] -> Linear layout
        assert np.array_equal(k_c.astype(int), np.array(exp["mask_conv1d [in,out]"]))
        assert abs(np.abs(Wl[k_l]).sum() - exp["kept_abs_sum"]) < 1e-9
        ok("nm_axis: 2:4 mask (Linear and transposed Conv1D), kept |w| sum")
    else:
        print(f"SKIP {d} not found")

    # --- Wanda tie-breaking and counts ---------------------------------
    Wt2 = np.ones((2, 4))
    Xt2 = np.ones((3, 4))
    assert np.array_equal(wanda_keep(Wt2, Xt2, 0.5), np.array([[0, 0, 1, 1]] * 2, dtype=bool))
    assert np.array_equal(wanda_nm_keep(Wt2, Xt2, 1, 2), np.array([[0, 1, 0, 1]] * 2, dtype=bool))
    rng0 = np.random.default_rng(1)
    Wr = rng0.standard_normal((3, 100))
    Xr = rng0.standard_normal((5, 100))
    assert (wanda_keep(Wr, Xr, 0.29).sum(axis=1) == 71).all()
    ok("wanda ties (lower index pruned first), 0.29 of 100 prunes 29 per row")

    # --- Cubic schedule (shared case cubic_schedule) -------------------
    d = os.path.join(CASES, "cubic_schedule")
    if os.path.isdir(d):
        with open(os.path.join(d, "params.json")) as f:
            p = json.load(f)
        with open(os.path.join(d, "expected.json")) as f:
            exp = json.load(f)
        args = (p["initial_sparsity"], p["final_sparsity"], p["begin_step"], p["frequency"], p["n_updates"])
        for st, v in exp["sparsity_at_update_steps"].items():
            assert abs(cubic_sparsity(int(st), *args) - v) < 1e-4, (st, v)
        for st, v in exp["applied_sparsity_at_query_steps"].items():
            assert abs(cubic_sparsity(int(st), *args) - v) < 1e-4, (st, v)
        assert cubic_sparsity(1100, *args) == 0.9
        ok("cubic_schedule: update steps and held values at query steps")
    else:
        print(f"SKIP {d} not found")

    # --- RigL drop fraction --------------------------------------------
    assert rigl_drop_fraction(0, 0.3, 100) == 0.3
    assert abs(rigl_drop_fraction(50, 0.3, 100) - 0.15) < 1e-12
    assert rigl_drop_fraction(100, 0.3, 100) == 0.0
    assert rigl_drop_fraction(150, 0.3, 100) == 0.0
    ok("rigl_drop_fraction: alpha at 0, alpha/2 at T/2, 0 from T_end")

    # --- ERK -----------------------------------------------------------
    shapes = {"conv1": (16, 3, 3, 3), "conv2": (32, 16, 3, 3), "fc": (10, 512)}
    for kern in (True, False):
        for dens in (0.05, 0.2, 0.5, 0.9):
            dd = erk_densities(shapes, dens, kernel=kern)
            tot = sum(np.prod(s) for s in shapes.values())
            kept = sum(dd[k] * np.prod(s) for k, s in shapes.items())
            assert abs(kept / tot - dens) < 1e-9, (kern, dens, dd)
            assert all(0.0 < v <= 1.0 for v in dd.values()), dd
    # density 0.7: fc has the largest raw (522/5120) and saturates first;
    # re-solving then saturates conv1; conv2 takes the rest:
    # (0.7 * 10160 - 5120 - 432) / 4608 = 1560 / 4608.
    dd = erk_densities(shapes, 0.7)
    assert dd["fc"] == 1.0 and dd["conv1"] == 1.0, dd
    assert abs(dd["conv2"] - 1560.0 / 4608.0) < 1e-12, dd
    # Closed form when nothing saturates: eps = d*N / sum(raw*numel).
    sh2 = {"a": (100, 200), "b": (300, 400)}
    dd2 = erk_densities(sh2, 0.1)
    eps = 0.1 * (20000 + 120000) / (300 + 700)
    assert abs(dd2["a"] - eps * 300 / 20000) < 1e-12 and abs(dd2["b"] - eps * 700 / 120000) < 1e-12
    assert erk_densities(sh2, 1.0) == {"a": 1.0, "b": 1.0}
    ok(f"erk_densities: global density preserved, saturation -> dense ({dd})")

    # --- SparseGPT -----------------------------------------------------
    rng = np.random.default_rng(0)
    W8 = rng.standard_normal((8, 16))
    X8 = rng.standard_normal((64, 16))
    bs = 8
    for sp in (0.25, 0.5, 0.29):
        Wn, keep = sparsegpt(W8, X8, sparsity=sp, blocksize=bs)
        for b0 in range(0, 16, bs):
            blk = keep[:, b0 : b0 + bs]
            assert (~blk).sum() == _robust_floor(sp * blk.size), (sp, b0, (~blk).sum())
        assert np.all(Wn[~keep] == 0.0)  # exact zeros
        assert np.all(np.signbit(Wn[~keep]) == False)  # noqa: E712  (+0.0)
        # OBS-style reconstruction should beat plain masking.
        ref = X8 @ W8.T
        e_gpt = np.linalg.norm(X8 @ Wn.T - ref)
        e_mask = np.linalg.norm(X8 @ np.where(keep, W8, 0.0).T - ref)
        assert e_gpt < e_mask, (sp, e_gpt, e_mask)
        print(
            f"    sparsity={sp}: pruned/block={[int((~keep[:, b : b + bs]).sum()) for b in (0, 8)]}"
            f" recon err sparsegpt={e_gpt:.4f} < masked={e_mask:.4f}"
        )
    ok("sparsegpt 8x16 bs=8: exact per-block counts, exact zeros, better than masking")

    Wn0, keep0 = sparsegpt(W8, X8, sparsity=0.0, blocksize=bs)
    assert keep0.all() and np.array_equal(Wn0, W8)
    ok("sparsegpt sparsity=0: weights bit-identical, mask all True")

    Wnm, keepnm = sparsegpt(W8, X8, nm=(2, 4), blocksize=bs)
    assert (keepnm.reshape(8, 4, 4).sum(axis=2) == 2).all()
    assert np.all(Wnm[~keepnm] == 0.0)
    ok("sparsegpt nm=(2,4): every group of 4 input columns keeps exactly 2, exact zeros")

    # Single-pruned-column case against the closed-form OBS update
    # (Hassibi & Stork): delta_row = -w_p / [H^-1]_pp * [H^-1]_{p,:}.
    Wo = rng.standard_normal((8, 16))
    Wo[:, 0] = 1e-6 * (1.0 + np.arange(8))  # column 0 is by far least salient
    Wn1, keep1 = sparsegpt(Wo, X8, sparsity=1.0 / 16.0, blocksize=16)
    assert np.array_equal(np.where(~keep1)[1], np.zeros(8, dtype=int))
    Hd = X8.T @ X8
    Hd += 0.01 * np.mean(np.diag(Hd)) * np.eye(16)
    Hi = np.linalg.inv(Hd)
    obs = Wo - np.outer(Wo[:, 0] / Hi[0, 0], Hi[0, :])
    obs[:, 0] = 0.0
    assert np.allclose(Wn1, obs, atol=1e-12), np.abs(Wn1 - obs).max()
    ok("sparsegpt single-column prune equals closed-form OBS update")

    # Dead input feature: its column is zeroed and counts as pruned first.
    Xd = X8.copy()
    Xd[:, 3] = 0.0
    Wd, keepd = sparsegpt(W8, Xd, sparsity=0.25, blocksize=bs)
    assert not keepd[:, 3].any() and np.all(Wd[:, 3] == 0.0)
    ok("sparsegpt dead input column zeroed and pruned")

    print(f"all {n_ok} reference self-checks passed")
