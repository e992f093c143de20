"""Retrieval mAP and recall@k against scikit-learn and brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine import retrieval
from pytest_fgbmk.machine.retrieval import _count_at_least, leave_one_out, retrieval_metrics


def _sklearn_ap(scores: np.ndarray, qlab: np.ndarray, glab: np.ndarray, self_mask=None):
    out = np.full(len(qlab), np.nan)
    for i, row in enumerate(scores):
        rel = glab == qlab[i]
        keep = np.ones(len(glab), bool) if self_mask is None else ~self_mask[i]
        if rel[keep].any():
            out[i] = average_precision_score(rel[keep], row[keep])
    return out


def _brute_recall(scores, qlab, glab, k, self_mask=None):
    """Pessimistic ties: negatives tied with the best positive rank ahead of it."""
    out = np.zeros(len(qlab), bool)
    for i, row in enumerate(scores):
        keep = np.ones(len(glab), bool) if self_mask is None else ~self_mask[i]
        rel = (glab == qlab[i]) & keep
        if not rel.any():
            continue
        # sort by score desc, negatives first among equal scores
        idx = np.flatnonzero(keep)
        order = sorted(idx, key=lambda j: (-row[j], bool(rel[j])))
        first = next(r for r, j in enumerate(order) if rel[j])
        out[i] = first < k
    return out


def _pm1(rng, n, d=16):
    """±1 features of dimension 16: normalised entries are ±1/4, so every score is exact."""
    return rng.choice([-1.0, 1.0], size=(n, d))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ap_equals_sklearn_per_query_with_ties(dtype):
    rng = np.random.default_rng(0)
    q, g = _pm1(rng, 60, 4), _pm1(rng, 150, 4)  # d=4: 16 distinct vectors, heavy ties
    ql, gl = rng.integers(0, 5, 60), rng.integers(0, 5, 150)
    res = retrieval_metrics(q, ql, g, gl, chunk_rows=7, dtype=dtype)
    scores = (q / 2.0) @ (g / 2.0).T
    assert len(np.unique(scores)) <= 5  # heavy ties really present
    ref = _sklearn_ap(scores, ql, gl)
    np.testing.assert_allclose(res.ap, ref, rtol=0, atol=1e-12)
    for k in (1, 10):
        np.testing.assert_array_equal(res.hits[k], _brute_recall(scores, ql, gl, k))


def test_ap_equals_sklearn_unnormalised_integer_features():
    rng = np.random.default_rng(1)
    q = rng.integers(-2, 3, size=(40, 5)).astype(float)
    g = rng.integers(-2, 3, size=(300, 5)).astype(float)
    ql, gl = rng.integers(0, 8, 40), rng.integers(0, 8, 300)
    res = retrieval_metrics(q, ql, g, gl, normalize=False, chunk_rows=3)
    ref = _sklearn_ap(q @ g.T, ql, gl)
    np.testing.assert_allclose(res.ap, ref, atol=1e-12)


def test_ap_equals_sklearn_on_continuous_float64():
    rng = np.random.default_rng(2)
    q, g = rng.normal(size=(50, 32)), rng.normal(size=(400, 32))
    ql, gl = rng.integers(0, 10, 50), rng.integers(0, 10, 400)
    res = retrieval_metrics(q, ql, g, gl)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    np.testing.assert_allclose(res.ap, _sklearn_ap(qn @ gn.T, ql, gl), atol=1e-9)
    assert res.mean_ap == pytest.approx(np.mean(_sklearn_ap(qn @ gn.T, ql, gl)), abs=1e-9)


def test_near_duplicate_features_match_sklearn():
    """Positives within 1e-9 of each other: the binning's scale is extreme, counts stay exact."""
    rng = np.random.default_rng(9)
    base = rng.normal(size=16)
    q = base + 1e-5 * rng.normal(size=(30, 16))
    g = base + 1e-5 * rng.normal(size=(200, 16))
    ql, gl = rng.integers(0, 4, 30), rng.integers(0, 4, 200)
    res = retrieval_metrics(q, ql, g, gl, chunk_rows=8)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    scores = qn @ gn.T
    assert np.ptp(scores) < 1e-8
    np.testing.assert_allclose(res.ap, _sklearn_ap(scores, ql, gl), atol=1e-9)


def test_oracle_features_give_exactly_one():
    rng = np.random.default_rng(3)
    ql, gl = rng.integers(0, 12, 100), np.repeat(np.arange(12), 9)
    eye = np.eye(12, dtype=np.float32)
    res = retrieval_metrics(eye[ql], ql, eye[gl], gl)
    assert res.mean_ap == 1.0
    assert res.recall(1) == 1.0 and res.recall(10) == 1.0
    assert (res.ap == 1.0).all()


def test_random_features_give_chance_level():
    rng = np.random.default_rng(4)
    n_cls = 5
    gl = rng.integers(0, n_cls, 3000)
    ql = rng.integers(0, n_cls, 400)
    res = retrieval_metrics(
        rng.normal(size=(400, 64)).astype(np.float32),
        ql,
        rng.normal(size=(3000, 64)).astype(np.float32),
        gl,
    )
    freq = np.bincount(gl, minlength=n_cls) / len(gl)
    chance = freq[ql].mean()
    assert abs(res.mean_ap - chance) < 0.02


def test_query_without_positive_is_counted_not_averaged():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    g = np.array([[1.0, 0.1], [0.9, 0.2]])
    res = retrieval_metrics(q, [0, 7], g, [0, 1])
    assert res.without_positive == 1
    assert np.isnan(res.ap[1]) and res.ap[0] == 1.0
    assert res.mean_ap == 1.0 and res.recall(1) == 1.0


def test_leave_one_out_matches_reference():
    rng = np.random.default_rng(5)
    x = _pm1(rng, 80, 4)
    lab = rng.integers(0, 4, 80)
    lab[0] = 9  # a singleton class: no positive once the query is excluded
    res = leave_one_out(x, lab, chunk_rows=5)
    scores = (x / 2) @ (x / 2).T
    self_mask = np.eye(80, dtype=bool)
    np.testing.assert_allclose(res.ap, _sklearn_ap(scores, lab, lab, self_mask), atol=1e-12)
    assert res.without_positive == 1
    for k in (1, 10):
        np.testing.assert_array_equal(res.hits[k], _brute_recall(scores, lab, lab, k, self_mask))


def test_chunk_size_does_not_change_results():
    rng = np.random.default_rng(6)
    q, g = rng.normal(size=(33, 8)), rng.normal(size=(70, 8))
    ql, gl = rng.integers(0, 3, 33), rng.integers(0, 3, 70)
    a = retrieval_metrics(q, ql, g, gl, chunk_rows=1)
    b = retrieval_metrics(q, ql, g, gl, chunk_rows=1000)
    np.testing.assert_array_equal(a.ap, b.ap)


def test_float16_and_torch_input_accepted():
    rng = np.random.default_rng(7)
    q = torch.tensor(rng.normal(size=(10, 8)), dtype=torch.float16)
    g = torch.tensor(rng.normal(size=(20, 8)), dtype=torch.float16)
    res = retrieval_metrics(q, torch.arange(10) % 2, g, torch.arange(20) % 2)
    assert res.n_queries == 10 and np.isfinite(res.ap).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"query": np.zeros((2, 3)), "gallery": np.zeros((2, 4))}, "dimension"),
        ({"query": np.full((2, 3), np.nan)}, "NaN"),
        ({"query": np.zeros(3)}, "2-D"),
        ({"ks": (0,)}, "positive"),
        ({"query_labels": [0, 1, 2]}, "labels"),
        ({"chunk_rows": 0}, "chunk_rows"),
    ],
)
def test_bad_input_raises_config_error(kwargs, match):
    args = {
        "query": np.ones((2, 3)),
        "query_labels": [0, 1],
        "gallery": np.ones((2, 3)),
        "gallery_labels": [0, 1],
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        retrieval_metrics(**args)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 20),
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(0, 2**31 - 1),
)
def test_property_matches_sklearn_tiny(m, n, n_cls, chunk, seed):
    rng = np.random.default_rng(seed)
    q, g = _pm1(rng, m, 4), _pm1(rng, n, 4)
    ql, gl = rng.integers(0, n_cls, m), rng.integers(0, n_cls, n)
    res = retrieval_metrics(q, ql, g, gl, chunk_rows=chunk, ks=(1, 3))
    scores = (q / 2) @ (g / 2).T
    ref = _sklearn_ap(scores, ql, gl)
    np.testing.assert_allclose(res.ap, ref, atol=1e-12)
    assert res.without_positive == int(np.isnan(ref).sum())
    np.testing.assert_array_equal(res.hits[3], _brute_recall(scores, ql, gl, 3))
    valid = res.valid
    assert (res.ap[valid] > 0).all() and (res.ap[valid] <= 1).all()
    assert (res.hits[1] <= res.hits[3]).all()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 40),
    st.integers(0, 8),
    st.sampled_from([torch.float32, torch.float64]),
    st.sampled_from([16, 1]),
    st.integers(0, 2**31 - 1),
)
def test_property_binned_counts_equal_brute_force(c, n, p_max, dtype, bins, seed):
    """Binned + exact counting == counting every score, with ties, ±0, -inf, padding."""
    rng = np.random.default_rng(seed)
    # few distinct values, both zeros, negatives, -inf (an excluded self): ties everywhere
    vals = np.array([-np.inf, -2.5, -1.0, -0.0, 0.0, 1e-30, 0.5, 0.5000001, 3.0])
    if rng.random() < 0.5:
        vals = rng.normal(size=5) * 10.0 ** rng.integers(-6, 3)
    scores = torch.from_numpy(rng.choice(vals, size=(c, n))).to(dtype)
    p = torch.from_numpy(rng.integers(0, min(p_max, n) + 1, size=c))
    width = int(p.max())
    cols = torch.from_numpy(np.stack([rng.permutation(n)[:width] for _ in range(c)]))
    cols = cols.reshape(c, width)
    real = torch.arange(width) < p[:, None]
    a = torch.where(real, scores.gather(1, cols), torch.inf)
    if not torch.isfinite(a[real]).all():
        return  # a positive at -inf is no positive (the excluded self is never one)
    a, perm = torch.sort(a, dim=1)
    cols = cols.gather(1, perm)
    old = retrieval.BINS_PER_POSITIVE, retrieval.MIN_BINS
    try:
        retrieval.BINS_PER_POSITIVE = retrieval.MIN_BINS = bins  # 1: crowded bins
        got = _count_at_least(scores, a, cols, p)
    finally:
        retrieval.BINS_PER_POSITIVE, retrieval.MIN_BINS = old
    brute = (scores[:, :, None] >= a[:, None, :]).sum(1)
    np.testing.assert_array_equal(got[real].numpy(), brute[real].numpy())


def test_float32_sparse_route_matches_float64_on_separable_data():
    rng = np.random.default_rng(8)
    centers = rng.normal(size=(6, 16))
    ql, gl = rng.integers(0, 6, 50), rng.integers(0, 6, 500)
    q = (centers[ql] + 0.3 * rng.normal(size=(50, 16))).astype(np.float32)
    g = (centers[gl] + 0.3 * rng.normal(size=(500, 16))).astype(np.float32)
    r32 = retrieval_metrics(q, ql, g, gl)
    r64 = retrieval_metrics(q, ql, g, gl, dtype=torch.float64)
    assert r32.mean_ap > 0.9
    np.testing.assert_allclose(r32.ap, r64.ap, atol=1e-6)


def test_default_block_is_larger_on_cuda_only_when_memory_is_free(monkeypatch):
    cpu = torch.device("cpu")
    assert retrieval.default_block_elements(cpu) == retrieval.DEFAULT_BLOCK_ELEMENTS
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (80 << 30, 80 << 30))
    assert retrieval.default_block_elements(cuda) == retrieval.CUDA_BLOCK_ELEMENTS
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 << 30, 80 << 30))
    assert retrieval.default_block_elements(cuda) == (2 << 30) // retrieval.CUDA_BYTES_PER_SCORE
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1 << 20, 80 << 30))
    assert retrieval.default_block_elements(cuda) == retrieval.DEFAULT_BLOCK_ELEMENTS


# --- edges: any finite scale ranks alike; what cannot be ranked is refused (issue 15) ---

SCALES = [1e-30, 1e-25, 1e-10, 1.0, 1e10, 1e20, 1e30]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", SCALES)
def test_oracle_answer_is_one_at_any_scale(scale, dtype):
    """The issue's cases: at 1e20 (float32) the norm overflowed and every cosine became 0
    (AP 1/3); at 1e-25 its square underflowed, the rows stayed unnormalised and the dot
    product ranked the long negative first (AP 1/2)."""
    q = np.array([[1.0, 0.0]], dtype) * dtype(scale)
    g = np.array([[1.0, 0.0], [3.0, 3.0], [0.1, 1.0]], dtype) * dtype(scale)
    res = retrieval_metrics(q, [0], g, [0, 1, 1])
    assert res.ap.tolist() == [1.0]
    assert res.hits[1].tolist() == [True]


@pytest.mark.parametrize("scale", [1e20, 1e-25, 1e30, 1e-30])
def test_random_float32_data_is_scale_invariant(scale):
    """Random data at 1e20 gave mAP 0.358 vs 0.412 and R@10 0 vs 1: now as at scale 1."""
    rng = np.random.default_rng(11)
    q = rng.normal(size=(150, 32)).astype(np.float32)
    g = rng.normal(size=(800, 32)).astype(np.float32)
    ql, gl = rng.integers(0, 5, 150), rng.integers(0, 5, 800)
    base = retrieval_metrics(q, ql, g, gl)
    s = np.float32(scale)
    res = retrieval_metrics(q * s, ql, g * s, gl)
    # scaling by a power of ten rounds each entry (float32): a few near-ties may flip
    assert abs(res.mean_ap - base.mean_ap) < 1e-4
    assert abs(res.recall(10) - base.recall(10)) <= 0.01


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 10),
    st.integers(1, 25),
    st.integers(1, 4),
    st.sampled_from([np.float32, np.float64]),
    st.integers(-30, 30),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_property_any_scale_matches_sklearn_exactly(m, n, n_cls, dtype, exp10, per_row, seed):
    """±1 rows times any scale in 1e-30…1e30 (one for all, or one per row): every cosine
    is exactly k/4, so AP equals scikit-learn's on the unscaled scores to the last bit and
    recall@k equals brute force, ties included."""
    rng = np.random.default_rng(seed)
    q, g = _pm1(rng, m, 4), _pm1(rng, n, 4)
    ql, gl = rng.integers(0, n_cls, m), rng.integers(0, n_cls, n)
    scores = (q / 2) @ (g / 2).T
    if per_row:
        sq = 10.0 ** rng.uniform(-30, 30, size=(m, 1))
        sg = 10.0 ** rng.uniform(-30, 30, size=(n, 1))
    else:
        sq = sg = 10.0**exp10
    res = retrieval_metrics((q * sq).astype(dtype), ql, (g * sg).astype(dtype), gl, ks=(1, 3))
    ref = _sklearn_ap(scores, ql, gl)
    np.testing.assert_allclose(res.ap, ref, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.hits[3], _brute_recall(scores, ql, gl, 3))
    np.testing.assert_array_equal(res.hits[1], _brute_recall(scores, ql, gl, 1))


@settings(max_examples=40, deadline=None)
@given(st.floats(-200, 200), st.integers(0, 2**31 - 1))
def test_property_continuous_float64_any_scale_matches_sklearn(log_scale, seed):
    """float64 features at 1e-200…1e200: squares overflow or underflow, cosines do not."""
    rng = np.random.default_rng(seed)
    q, g = rng.normal(size=(12, 8)), rng.normal(size=(60, 8))
    ql, gl = rng.integers(0, 3, 12), rng.integers(0, 3, 60)
    s = 10.0**log_scale
    res = retrieval_metrics(q * s, ql, g * s, gl, ks=(1, 5))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    scores = qn @ gn.T
    np.testing.assert_allclose(res.ap, _sklearn_ap(scores, ql, gl), atol=1e-9)
    for k in (1, 5):
        np.testing.assert_array_equal(res.hits[k], _brute_recall(scores, ql, gl, k))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(1, 25),
    st.sampled_from([np.float32, np.float64]),
    st.integers(-100, 100),
    st.integers(-100, 100),
    st.integers(0, 2**31 - 1),
)
def test_property_unnormalised_any_scale_matches_sklearn(m, n, dtype, eq, eg, seed):
    """normalize=False: integer features times 2^eq and 2^eg (≈1e-30…1e30 each, so the
    product reaches 1e60, beyond float32): ranked as the unscaled dot products."""
    rng = np.random.default_rng(seed)
    q = rng.integers(-3, 4, size=(m, 6)).astype(float)
    g = rng.integers(-3, 4, size=(n, 6)).astype(float)
    ql, gl = rng.integers(0, 3, m), rng.integers(0, 3, n)
    scores = q @ g.T
    qs, gs = (np.ldexp(q, eq).astype(dtype), np.ldexp(g, eg).astype(dtype))
    res = retrieval_metrics(qs, ql, gs, gl, normalize=False, ks=(1, 3))
    np.testing.assert_allclose(res.ap, _sklearn_ap(scores, ql, gl), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.hits[3], _brute_recall(scores, ql, gl, 3))


def test_unnormalised_scores_near_float32_max_are_ranked():
    """Scores ±3e38 in float32 raised IndexError (their difference overflowed the binning);
    |q|·|g|·dim past float32's max was refused. Both now rank as in float64."""
    q = np.array([[3e38]], np.float32)
    g = np.array([[1.0], [-1.0], [0.5]], np.float32)
    res = retrieval_metrics(q, [0], g, [0, 0, 1], normalize=False)
    assert res.ap.tolist() == [(1 + 2 / 3) / 2]
    q = np.array([[3e38, 1e38], [-2e38, 3e38]], np.float32)
    g = np.array([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.0], [0.0, 1.0], [2.0, -1.0]], np.float32)
    ql, gl = np.array([0, 1]), np.array([0, 0, 1, 1, 0])
    res = retrieval_metrics(q, ql, g, gl, normalize=False)
    scores = q.astype(np.float64) @ g.astype(np.float64).T
    np.testing.assert_allclose(res.ap, _sklearn_ap(scores, ql, gl), rtol=0, atol=1e-12)


def test_float64_features_cast_to_float32_keep_their_ranking():
    """1e-300 fits float64, not float32: the cast made every score 0 (one big tie)."""
    q = np.array([[1.0, 0.0]]) * 1e-300
    g = np.array([[1.0, 0.0], [3.0, 3.0], [0.1, 1.0]]) * 1e300
    for normalize in (True, False):
        res = retrieval_metrics(q, [0], g, [0, 1, 1], normalize=normalize, dtype=torch.float32)
        expected = 1.0 if normalize else 0.5  # by dot product the long negative is first
        assert res.ap.tolist() == [expected]


def test_normal_data_is_bit_identical_to_plain_normalisation():
    """The power-of-two rescaling changes no bit where x / ‖x‖ neither overflows nor
    underflows: numbers on normal data do not move."""
    rng = np.random.default_rng(12)
    for dtype in (torch.float32, torch.float64):
        x = torch.from_numpy(rng.normal(size=(300, 97)) * 10.0 ** rng.uniform(-3, 3, (300, 1)))
        x = x.to(dtype)
        plain = x / x.norm(dim=1, keepdim=True)
        assert torch.equal(retrieval._unit_rows(x, "query", None), plain)
        # one row far out of range sends every row through the rescaling: same bits for
        # the rows in range, the plain formula's overflow (a zero row) for the far one
        far = torch.cat([x, x[:1] * 2.0 ** (100 if dtype == torch.float32 else 1000)])  # exact
        got = retrieval._unit_rows(far, "query", None)
        assert torch.equal(got[:-1], plain)
        assert torch.equal(got[-1], plain[0])
        assert (far[-1] / far[-1].norm() == 0).all()
        q, g = retrieval._in_range(x[:50], x[50:], dtype)
        assert torch.equal(q, x[:50]) and torch.equal(g, x[50:])


@pytest.mark.parametrize("which", ["query", "gallery"])
def test_zero_rows_are_refused_when_normalising(which):
    rng = np.random.default_rng(13)
    args = {
        "query": rng.normal(size=(5, 3)),
        "query_labels": [0, 1, 0, 1, 0],
        "gallery": rng.normal(size=(6, 3)),
        "gallery_labels": [0, 1, 0, 1, 0, 1],
    }
    args[which][[1, 3]] = 0.0
    n = len(args[which])
    with pytest.raises(ConfigError, match=rf"^{which} features: 2 of {n} rows are all zeros"):
        retrieval_metrics(**args)
    # by dot product a zero row is well defined: score 0 against everything
    res = retrieval_metrics(**args, normalize=False)
    scores = args["query"] @ args["gallery"].T
    ref = _sklearn_ap(scores, np.array(args["query_labels"]), np.array(args["gallery_labels"]))
    np.testing.assert_allclose(res.ap, ref, atol=1e-12)


def test_non_finite_features_are_refused_naming_the_rows():
    g = np.ones((4, 3))
    g[0, 1], g[2, 0] = np.nan, -np.inf
    with pytest.raises(ConfigError, match=r"^gallery features: 2 of 4 rows contain NaN or inf"):
        retrieval_metrics(np.ones((2, 3)), [0, 1], g, [0, 1, 0, 1])
    big = np.array([[1e308, 0.0, 0.0], [0.0, 1e308, 1e308]])  # finite, sum overflows: fine
    assert retrieval_metrics(big, [0, 1], big * 0.5, [0, 1]).ap.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0.9, 0.2], r"query labels: 2 of 2 entries are not whole numbers \(first: 0.9 at row 0\)"),
        ([1.0, np.nan], r"1 of 2 entries are not whole numbers \(first: nan at row 1\)"),
        ([0.0, 1e19], r"1 of 2 entries are not whole numbers"),
        (["a", "b"], "must be integers"),
    ],
)
def test_non_integer_labels_are_refused(labels, match):
    """0.9 was truncated to 0 and matched 0.2 (also 0): a silent wrong AP."""
    with pytest.raises(ConfigError, match=match):
        retrieval_metrics(np.eye(2), labels, np.eye(2), [0, 0])


def test_whole_valued_float_and_bool_labels_equal_integer_labels():
    rng = np.random.default_rng(14)
    q, g = rng.normal(size=(20, 4)), rng.normal(size=(50, 4))
    ql, gl = rng.integers(0, 2, 20), rng.integers(0, 2, 50)
    a = retrieval_metrics(q, ql, g, gl)
    b = retrieval_metrics(q, ql.astype(float), g, torch.tensor(gl, dtype=torch.float32))
    c = retrieval_metrics(q, ql.astype(bool), g, gl.astype(bool))
    np.testing.assert_array_equal(a.ap, b.ap)
    np.testing.assert_array_equal(a.ap, c.ap)


def test_exclude_self_needs_the_gallery_itself():
    rng = np.random.default_rng(15)
    x = _pm1(rng, 30, 4)
    lab = rng.integers(0, 3, 30)
    with pytest.raises(ConfigError, match="query has 10 rows and the gallery 30"):
        retrieval_metrics(x[:10], lab[:10], x, lab, exclude_self=True)
    other = x.copy()
    other[[2, 5, 7]] *= -1
    with pytest.raises(ConfigError, match="3 of 30 query rows differ"):
        retrieval_metrics(x, lab, other, lab, exclude_self=True)
    flipped = lab.copy()
    flipped[4] = (lab[4] + 1) % 3
    with pytest.raises(ConfigError, match="1 of 30 query rows differ"):
        retrieval_metrics(x, lab, x, flipped, exclude_self=True)
    # the same object, or an identical copy (another dtype too): the leave-one-out result
    ref = leave_one_out(x, lab)
    for g in (x.copy(), x.astype(np.float32), torch.from_numpy(x)):
        same = retrieval_metrics(x, lab, g, list(lab), exclude_self=True)
        np.testing.assert_array_equal(same.ap, ref.ap)
