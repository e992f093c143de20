"""Image retrieval: mAP over the whole ranked gallery, recall@k, per-query average precision.

Query = each test image, gallery = the train split (or, with :func:`leave_one_out`, the
test split itself minus the query). Similarity is the cosine of L2-normalised features.

The work is count-based and chunked: a block of query rows is scored against the whole
gallery (``chunk_rows × n`` floats at a time, never ``m × n``), and each query's AP is
computed from the *rank of each positive* alone, ``N(≥ a_t)`` for each positive score
``a_t``. No row is ever sorted. Each row's scores are binned by a monotone map fitted to
its positives (:func:`_count_at_least`) and counted in a per-row histogram: a bin without
a positive lies wholly above or below each positive, so suffix sums of the histogram count
it; the few scores that share a bin with a positive are compared exactly. On CPU a block
is post-processed in slices of ``CPU_WORK_ELEMENTS`` scores so that the passes over them
stay in cache.

Ties (deterministic, documented):

* **AP** follows scikit-learn's tie-aware ``average_precision_score``: a group of gallery
  items with equal scores is one threshold, so every positive of the group gets the
  precision measured at the group's end, ``AP = 1/|P| · Σ_{j∈P} TP(≥s_j) / N(≥s_j)``.
* **recall@k** is pessimistic: a negative tied with the best positive ranks ahead of it, so
  a query hits at ``k`` iff fewer than ``k`` negatives score ``≥`` its best positive.

A query with no positive in the gallery has no AP: its entry is NaN, it is left out of
mAP and recall, and counted in :attr:`RetrievalResult.without_positive`.

Edges (ranked correctly or refused, never a silent wrong number):

* **Any finite scale ranks alike.** Each row is scaled by the power of two that puts its
  largest entry in ``[0.5, 1)`` before it is normalised (exact, so on ordinary data the
  result is bit-identical to ``x / ‖x‖``; without it a float32 norm overflowed at 1e20 and
  underflowed at 1e-25). Unnormalised features that could overflow a score (``|q|·|g|·dim``
  past a quarter of the dtype's max) are scaled as a whole, which keeps every ranking.
* **Refused** (:class:`~pytest_fgbmk.errors.ConfigError`, naming how many rows): NaN or
  infinite features; all-zero rows when normalising (no cosine); labels that are not whole
  numbers (0.9 is not truncated to 0); ``exclude_self`` unless the query set is the gallery
  row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pytest_fgbmk.errors import ConfigError

#: Scores per block (``rows × gallery``) when no chunk size is given: ~64 MiB of float32.
DEFAULT_BLOCK_ELEMENTS = 16 * 1024 * 1024
DEFAULT_KS = (1, 10)


@dataclass(frozen=True)
class RetrievalResult:
    """Per-query AP (NaN where a query has no positive), mAP and recall@k (fractions 0–1)."""

    ap: np.ndarray
    hits: dict[int, np.ndarray]
    without_positive: int

    @property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.ap)

    @property
    def mean_ap(self) -> float:
        v = self.valid
        return float(self.ap[v].mean()) if v.any() else float("nan")

    def recall(self, k: int) -> float:
        v = self.valid
        return float(self.hits[k][v].mean()) if v.any() else float("nan")

    @property
    def n_queries(self) -> int:
        return int(self.ap.shape[0])


def _as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as a 2-D floating tensor, every entry finite (half precision widened to float32).

    Integer input becomes float64. Raises :class:`ConfigError` naming how many rows hold NaN
    or ±inf.
    """
    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ConfigError(f"{name} features must be 2-D (items × dim), got shape {tuple(t.shape)}")
    if t.shape[1] == 0:
        raise ConfigError(f"{name} features have no dimension (shape {tuple(t.shape)})")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()  # exact
    # a finite sum proves every entry finite (one reduction); only an overflowing or
    # non-finite sum needs the rowwise count
    if t.numel() and not torch.isfinite(t.sum()):
        bad = int((~torch.isfinite(t).all(dim=1)).sum())
        if bad:
            raise ConfigError(
                f"{name} features: {bad} of {t.shape[0]} rows contain NaN or infinite values "
                "(drop or repair those rows)"
            )
    return t


def _labels(x: Sequence[int] | np.ndarray | torch.Tensor, n: int, name: str) -> torch.Tensor:
    """Class labels as int64; whole-valued floats pass, anything else raises ConfigError.

    A fractional, non-finite or out-of-range float label, a string or an object is refused
    (truncating 0.9 to 0 would make it match 0.2), naming how many entries are bad.
    """
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 1 or a.shape[0] != n:
        raise ConfigError(f"{name} labels must be 1-D with {n} entries, got {tuple(a.shape)}")
    if a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(a) | (np.round(a) != a) | (np.abs(a) >= 2.0**63)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ConfigError(
                f"{name} labels: {int(bad.sum())} of {n} entries are not whole numbers "
                f"(first: {float(a[i])!r} at row {i}); class labels must be integers"
            )
    elif a.dtype.kind not in "biu":
        raise ConfigError(f"{name} labels must be integers, got {a.dtype} values")
    return torch.as_tensor(a.astype(np.int64, copy=False))


def _times_pow2(t: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``t · 2^k`` (``k``: int64, one per row or a single one), exact where the result is normal.

    Applied in two halves so that each factor is a normal number of ``t``'s dtype (float32:
    ``|k| ≤ 252``; float64: ``|k| ≤ 2044``); only entries whose result is subnormal round.
    ``t`` itself is left unchanged.
    """
    half = torch.div(k, 2, rounding_mode="floor")
    out = t
    for step in (half, k - half):
        factor = np.ldexp(np.ones(step.numel()), step.cpu().numpy().reshape(-1))  # exact
        f = torch.from_numpy(factor).to(device=t.device, dtype=t.dtype).reshape(-1, 1)
        out = out * f if out is t else out.mul_(f)
    return out


def _exponent(m: torch.Tensor) -> torch.Tensor:
    """``e`` with ``m = f · 2^e``, ``0.5 ≤ |f| < 1`` (int64; 0 for ``m = 0``)."""
    return torch.frexp(m).exponent.to(torch.int64)


def _safe_exponents(dtypes: Sequence[torch.dtype], dim: int) -> tuple[int, int]:
    """Row exponents ``e`` (largest entry in ``[2^(e-1), 2^e)``) whose plain ``x / ‖x‖`` in
    each of ``dtypes`` is exact to rounding: the sum of squares stays below the max, and the
    square of an entry ``2^-digits`` times the largest stays a normal number."""
    lo, hi = -(2**31), 2**31
    extra = int(np.ceil(np.log2(max(dim, 1))))
    for dt in dtypes:
        info = torch.finfo(dt)
        top = int(np.log2(info.max)) + 1
        low = int(np.log2(info.tiny))
        digits = 1 - int(np.log2(info.eps))
        lo = max(lo, -((-(low + 2 * digits + 2)) // 2))  # 2(e - 1 - digits) >= low
        hi = min(hi, (top - 2 - extra) // 2)  # 2e + log2(dim) <= top - 2
    return lo, hi


def _unit_rows(t: torch.Tensor, name: str, dtype: torch.dtype | None) -> torch.Tensor:
    """Rows of ``t`` L2-normalised in ``dtype`` (default ``t``'s), whatever their scale.

    Rows whose plain ``x / ‖x‖`` is safe (every norm within :func:`_safe_exponents`, for
    float32 at dim 768 about 4e-12…3e17, checked on the norms themselves) take it unchanged,
    bit for bit. Otherwise every row is first scaled by the power of two that brings its
    largest entry into ``[0.5, 1)`` (exact, so a row in range still gets the same bits),
    and its norm can neither overflow nor underflow. Raises :class:`ConfigError` for
    all-zero rows (no direction: their cosine is undefined), naming how many.
    """
    if t.shape[0] == 0:
        return t if dtype is None else t.to(dtype)
    x = t if dtype is None else t.to(dtype)
    norm = x.norm(dim=1, keepdim=True)
    lo, hi = _safe_exponents([t.dtype, x.dtype], t.shape[1])
    # ‖x‖ ≥ 2^(lo + log2(dim)/2) puts the largest entry at or above 2^(lo - 1); ‖x‖ < 2^(hi - 1)
    # puts it below 2^hi (one bit of margin each way for the norm's rounding)
    floor = 2.0 ** (lo + int(np.ceil(np.log2(t.shape[1]) / 2)) + 1)
    if float(norm.min()) >= floor and float(norm.max()) < 2.0 ** (hi - 2):
        return x / norm
    low, high = torch.aminmax(t, dim=1)
    m = torch.maximum(high, -low)
    zero = int((m == 0).sum())
    if zero:
        raise ConfigError(
            f"{name} features: {zero} of {t.shape[0]} rows are all zeros, which have no "
            "cosine similarity (drop those rows, or pass normalize=False to rank by dot product)"
        )
    x = _times_pow2(t, -_exponent(m))
    if dtype is not None:
        x = x.to(dtype)
    return x / x.norm(dim=1, keepdim=True)


def _in_range(
    q: torch.Tensor, g: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised ``q``, ``g`` in ``dtype``, scaled so that no score can overflow.

    The rank of a gallery item in a query's row is unchanged when ``q`` and ``g`` are each
    multiplied by a positive constant, so when a score could reach a quarter of ``dtype``'s
    largest value (``|q|·|g|·dim``: then ``s − s'`` in the binning could overflow), when the
    product of the largest entries comes near the subnormals (float32 at ``|q|·|g| < 2^-102``:
    scores would round or vanish), or when an entry does not fit ``dtype``, both are scaled
    by exact powers of two to a largest entry in ``[0.5, 1)``. Otherwise they are left as
    they are (bit-identical to no scaling).
    """
    if not (q.numel() and g.numel()):
        return q.to(dtype), g.to(dtype)
    mq = torch.maximum(q.amax(), -q.amin())
    mg = torch.maximum(g.amax(), -g.amin())
    eq, eg = int(_exponent(mq)), int(_exponent(mg))
    info = torch.finfo(dtype)
    top = int(np.log2(info.max)) + 1  # 2^top > max
    low = int(np.log2(info.tiny))  # smallest normal exponent
    digits = 1 - int(np.log2(info.eps))  # mantissa bits
    # overflow: a score (< 2^(eq+eg)·dim) past max/4; underflow: a product of the largest
    # entries within ``digits`` bits of the subnormals (then every score rounds, or is 0)
    need = not low + digits <= eq + eg <= top - 2 - int(np.ceil(np.log2(q.shape[1])))
    # a nonzero largest entry must stay a normal number of ``dtype`` and below its max
    fits = all(m == 0 or low < e <= top - 1 for m, e in ((mq, eq), (mg, eg)))
    if need or not fits:
        if mq > 0:
            q = _times_pow2(q, torch.tensor([-eq]))
        if mg > 0:
            g = _times_pow2(g, torch.tensor([-eg]))
    return q.to(dtype), g.to(dtype)


def _check_same_set(
    query: object,
    gallery: object,
    q: torch.Tensor,
    g: torch.Tensor,
    ql: torch.Tensor,
    gl: torch.Tensor,
) -> None:
    """Raise :class:`ConfigError` unless query row ``i`` is gallery item ``i`` for every ``i``.

    ``exclude_self`` drops column ``i`` from row ``i``: on any other pair of sets that would
    drop an unrelated gallery item. Same object, or equal shapes with identical features and
    labels row for row; the error names how many rows differ.
    """
    if query is gallery and torch.equal(ql, gl):
        return
    if q.shape != g.shape:
        raise ConfigError(
            f"exclude_self needs the query set to be the gallery itself, but the query has "
            f"{q.shape[0]} rows and the gallery {g.shape[0]} (use exclude_self only with "
            "leave_one_out-style calls)"
        )
    differ = int(((q != g).any(dim=1) | (ql != gl)).sum())
    if differ:
        raise ConfigError(
            f"exclude_self needs the query set to be the gallery itself, but {differ} of "
            f"{q.shape[0]} query rows differ from the gallery's (features or label)"
        )


#: Scores post-processed at a time on CPU (16 MiB of float32: the passes over them mostly
#: stay in cache, and few enough operations are launched).
CPU_WORK_ELEMENTS = 1 << 22
#: The same on other devices, where the whole block is processed at once.
DEVICE_WORK_ELEMENTS = 1 << 26
#: Scores per block on a CUDA device with the memory for it (512 MiB of float32): there the
#: fixed cost of each block's launches dominates (100,000² on an H200: 1.82 s with the CPU's
#: block, 1.16 s with 8 times as many rows).
CUDA_BLOCK_ELEMENTS = 1 << 27
#: Bytes of free device memory asked per score of a CUDA block (the block and its working set).
CUDA_BYTES_PER_SCORE = 64


def default_block_elements(device: torch.device) -> int:
    """Scores per block when no ``chunk_rows`` is given: larger on CUDA when memory is free."""
    if device.type != "cuda":
        return DEFAULT_BLOCK_ELEMENTS
    free, _ = torch.cuda.mem_get_info(device)
    return max(DEFAULT_BLOCK_ELEMENTS, min(CUDA_BLOCK_ELEMENTS, free // CUDA_BYTES_PER_SCORE))


def retrieval_metrics(
    query: np.ndarray | torch.Tensor,
    query_labels: Sequence[int] | np.ndarray | torch.Tensor,
    gallery: np.ndarray | torch.Tensor,
    gallery_labels: Sequence[int] | np.ndarray | torch.Tensor,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    chunk_rows: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    normalize: bool = True,
    exclude_self: bool = False,
) -> RetrievalResult:
    """Per-query AP and recall@k of ``query`` against ``gallery`` (cosine, exact, chunked).

    ``chunk_rows`` bounds memory to ``chunk_rows × len(gallery)`` scores (default: about
    64 MiB worth; on CUDA up to 512 MiB, see :func:`default_block_elements`) plus a working
    set of 20 to 40 bytes per score of a slice (at most the block; on CPU
    ``CPU_WORK_ELEMENTS`` scores). ``dtype`` defaults to the features' own (float32 for
    float16 input). ``exclude_self`` (query ``i`` is gallery item ``i``) is the
    leave-one-out setting.

    Any finite scale ranks alike: rows are normalised after an exact power-of-two rescaling
    (:func:`_unit_rows`), and with ``normalize=False`` features that could overflow a
    score are rescaled as a whole (:func:`_in_range`). Raises :class:`ConfigError` (naming
    how many rows) for NaN or infinite features, all-zero rows when ``normalize`` (no
    cosine), labels that are not whole numbers, and ``exclude_self`` when the query set is
    not the gallery row for row; also for shapes, ``ks`` and ``chunk_rows`` out of range.
    """
    q0 = _as_tensor(query, "query")
    g0 = q0 if gallery is query else _as_tensor(gallery, "gallery")
    if q0.shape[1] != g0.shape[1]:
        raise ConfigError(
            f"query and gallery features differ in dimension ({q0.shape[1]} vs {g0.shape[1]})"
        )
    ql = _labels(query_labels, q0.shape[0], "query")
    gl = _labels(gallery_labels, g0.shape[0], "gallery")
    if exclude_self:
        _check_same_set(query, gallery, q0, g0, ql, gl)
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ConfigError(f"recall ks must be positive integers, got {ks}")
    if dtype is None:
        dtype = q0.dtype
    dev = torch.device(device) if device is not None else q0.device
    q0, g0 = q0.to(dev), g0.to(dev)
    if normalize:
        q = _unit_rows(q0, "query", dtype)
        g = q if g0 is q0 else _unit_rows(g0, "gallery", dtype)
    else:
        q, g = _in_range(q0, g0, dtype)
    m, n = q.shape[0], g.shape[0]
    if chunk_rows is None:
        chunk_rows = max(1, default_block_elements(dev) // max(n, 1))
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be at least 1, got {chunk_rows}")
    work = CPU_WORK_ELEMENTS if dev.type == "cpu" else DEVICE_WORK_ELEMENTS
    sub_rows = max(1, min(chunk_rows, work // max(n, 1)))

    ap = np.full(m, np.nan, dtype=np.float64)
    ahead = np.full(m, n, dtype=np.int64)
    # queries sorted by class: the rows of a block share few positive sets
    order = torch.as_tensor(np.argsort(ql.numpy(), kind="stable"), device=dev)
    g_order = torch.as_tensor(np.argsort(gl.numpy(), kind="stable"), device=dev)
    gl_sorted = gl.to(dev)[g_order]
    ql_dev = ql.to(dev)
    pos_start = torch.searchsorted(gl_sorted, ql_dev, right=False)
    pos_count = torch.searchsorted(gl_sorted, ql_dev, right=True) - pos_start
    gt = g.T.contiguous()
    work = _Workspace(sub_rows * n, q.dtype, dev)
    for start in range(0, m, chunk_rows):
        rows = order[start : start + chunk_rows]
        scores = q[rows] @ gt
        if exclude_self:
            scores[torch.arange(len(rows), device=dev), rows] = -torch.inf
        for lo in range(0, len(rows), sub_rows):
            sub = rows[lo : lo + sub_rows]
            idx, valid = _positive_index(
                g_order, pos_start[sub], pos_count[sub], sub if exclude_self else None
            )
            if idx.shape[1] == 0:
                continue
            sub_ap, sub_ahead = _rows_ap(scores[lo : lo + sub_rows], idx, valid, work)
            sub_np = sub.cpu().numpy()
            ap[sub_np] = sub_ap.cpu().numpy()
            ahead[sub_np] = sub_ahead.cpu().numpy()
    hits = {k: ~np.isnan(ap) & (ahead < k) for k in ks}
    return RetrievalResult(ap=ap, hits=hits, without_positive=int(np.isnan(ap).sum()))


def _positive_index(
    g_order: torch.Tensor,
    start: torch.Tensor,
    count: torch.Tensor,
    self_index: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gallery columns of each row's positives, padded to the widest row, and their mask.

    ``self_index`` (leave-one-out): the row's own column is no positive.
    """
    p = int(count.max()) if count.numel() else 0
    j = torch.arange(p, device=g_order.device)
    valid = j < count[:, None]
    last = (count - 1).clamp_min(0)[:, None]
    idx = g_order[(start[:, None] + torch.minimum(j, last)).clamp_max(g_order.numel() - 1)]
    if self_index is not None:
        valid &= idx != self_index[:, None]
    return idx, valid


def _rows_ap(
    scores: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor, work: _Workspace
) -> tuple[torch.Tensor, torch.Tensor]:
    """AP of each row (NaN without positive), and the negatives scoring ≥ its best positive.

    Row ``r``'s positives are the columns ``idx[r, valid[r]]`` of ``scores``.
    """
    inf = torch.tensor(torch.inf, dtype=scores.dtype, device=scores.device)
    a, perm = torch.sort(torch.where(valid, scores.gather(1, idx), inf), dim=1)  # pads last
    p = valid.sum(1)
    tp_at_least = p[:, None] - torch.searchsorted(a, a, right=False)  # positives >= a_t
    at_least = _count_at_least(scores, a, idx.gather(1, perm), p, work, tp_at_least)
    real = torch.arange(a.shape[1], device=a.device) < p[:, None]
    precision = tp_at_least.to(torch.float64) / at_least.clamp_min(1).to(torch.float64)
    best = (p - 1).clamp_min(0)[:, None]
    # a running sum read at the last positive: the same additions in the same order
    # however wide the padding (a plain sum's order depends on the row length)
    ap = torch.where(real, precision, 0.0).cumsum(1).gather(1, best)[:, 0] / p
    ahead = (at_least.gather(1, best) - tp_at_least.gather(1, best))[:, 0]
    return ap, ahead


#: Bins per positive in the monotone pre-bucketing of :func:`_count_at_least` (at least
#: ``MIN_BINS``, at most half the gallery size).
BINS_PER_POSITIVE = 16
MIN_BINS = 64
#: Bins below the lowest positive, as a share of ``n_bins``: they never count, but spread
#: the many low scores over several counters (one hot counter serialises the histogram).
BELOW_SHARE = 0.5


class _Workspace:
    """Buffers reused by every block of one call (fresh large tensors cost page faults)."""

    def __init__(self, elements: int, dtype: torch.dtype, device: torch.device) -> None:
        self.shifted = torch.empty(elements, dtype=dtype, device=device)
        self.keys = torch.empty(elements, dtype=torch.int64, device=device)
        # a multiple of 8 long, zero tail: read 8 entries at a time as one int64
        self.mask = torch.zeros(-(-elements // 8) * 8, dtype=torch.bool, device=device)

    def take(self, rows: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e = rows * n
        if e > self.keys.numel():
            self.__init__(e, self.shifted.dtype, self.shifted.device)
        mask = self.mask[: -(-e // 8) * 8]
        mask[e:] = False
        return self.shifted[:e].view(rows, n), self.keys[:e].view(rows, n), mask


def _count_at_least(
    scores: torch.Tensor,
    a: torch.Tensor,
    cols: torch.Tensor,
    p: torch.Tensor,
    work: _Workspace | None = None,
    positives_at_least: torch.Tensor | None = None,
) -> torch.Tensor:
    """``N[r, t]``: scores of row ``r`` that are ``>= a[r, t]``, exact for ``t < p[r]``.

    ``a[r, :p[r]]`` are row ``r``'s positive scores ``scores[r, cols[r, :p[r]]]`` in
    ascending order; the rest of ``a`` is +inf padding (``cols`` there: any column).
    ``positives_at_least`` (``p[r] - #{u: a[r, u] < a[r, t]}``) is computed when not given.
    Every score is binned by ``f_r(s) = trunc(clamp((s - a[r, 0]) · inv_r, -L, B) + L)``,
    which is non-decreasing in ``s`` (each step is exactly rounded and monotone, applied to
    all scores of the row alike), and counted in a per-row histogram. A bin that holds no
    positive is wholly ``>=`` or wholly ``<`` each positive, so it counts by comparing bins;
    the few negatives sharing a bin with a positive are compared exactly, and positives
    counted from ``a``. The positives' own bins are read from the binned scores, so they
    are binned identically by construction.
    """
    rows, n = scores.shape
    width_p = a.shape[1]
    dev = scores.device
    if width_p == 0:
        return torch.zeros(rows, 0, dtype=torch.int64, device=dev)
    if work is None:
        work = _Workspace(rows * n, scores.dtype, dev)
    shifted, keys, mask = work.take(rows, n)
    n_bins = max(MIN_BINS, min(BINS_PER_POSITIVE * width_p, n // 2))
    below = max(1, int(n_bins * BELOW_SHARE))
    width = below + n_bins + 1  # bins -L..B, shifted by L
    has = p > 0
    lo = torch.where(has, a[:, 0], 0.0)[:, None]
    hi = torch.where(has, a.gather(1, (p - 1).clamp_min(0)[:, None])[:, 0], 0.0)[:, None]
    # a positive, finite scale; all positives equal: narrow bins around them
    span = hi - lo
    span = torch.where(span > 0, span, lo.abs() * 2.0**-10 + torch.finfo(a.dtype).tiny)
    inv = (n_bins / span).clamp_max(torch.finfo(a.dtype).max)

    # scores near a_0 are subtracted exactly (full resolution however close the positives)
    torch.sub(scores, lo, out=shifted)
    shifted.mul_(inv).clamp_(-below, n_bins).add_(below)
    keys.copy_(shifted)  # truncation toward zero: monotone too
    pos_keys = keys.gather(1, cols)
    real = torch.arange(width_p, device=dev) < p[:, None]
    occupied = torch.zeros(rows, width, dtype=torch.bool, device=dev)
    row_start = torch.arange(0, rows * width, width, device=dev)[:, None]
    occupied.view(-1)[(row_start + pos_keys)[real]] = True  # the padding's columns: no

    # bins without positive: N(>= a_t) takes every bin above a_t's
    hist = torch.zeros(rows, width, dtype=torch.int64, device=dev)
    hist.scatter_add_(1, keys, _ones(keys))
    hist.masked_fill_(occupied, 0)
    upto = hist.cumsum_(1)  # scores in bins <= b
    above = upto[:, -1:] - upto.gather(1, pos_keys)

    # negatives sharing a bin with a positive: exact comparison (the positives themselves
    # are counted from ``a`` directly)
    torch.gather(occupied, 1, keys, out=mask[: rows * n].view(rows, n))
    mask[(torch.arange(0, rows * n, n, device=dev)[:, None] + cols)[real]] = False
    flat = _flat_nonzero(mask)
    exact = torch.zeros(rows, width_p + 1, dtype=torch.int64, device=dev)
    if flat.numel():
        cand_row = torch.div(flat, n, rounding_mode="floor")
        per_row = torch.bincount(cand_row, minlength=rows)
        width_c = int(per_row.max())
        slot = torch.arange(flat.numel(), device=dev) - (per_row.cumsum(0) - per_row)[cand_row]
        cand = torch.full((rows * width_c,), torch.inf, dtype=scores.dtype, device=dev)
        cand.index_copy_(0, cand_row * width_c + slot, scores.view(-1).index_select(0, flat))
        bucket = torch.searchsorted(a, cand.view(rows, width_c), right=True)  # a_t <= s
        exact.scatter_add_(1, bucket, torch.ones_like(bucket))
        exact[:, width_p] -= width_c - per_row  # the +inf padding
    tail = exact.sum(1, keepdim=True) - exact.cumsum(1)[:, :-1]  # candidates in buckets > t
    if positives_at_least is None:
        positives_at_least = p[:, None] - torch.searchsorted(a, a, right=False)
    return above + tail + positives_at_least


def _ones(like: torch.Tensor) -> torch.Tensor:
    return torch.ones(1, dtype=like.dtype, device=like.device).expand_as(like)


def _flat_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Indices of the ``True`` entries of a bool vector of a multiple of 8 entries.

    Mostly ``False`` masks are scanned 8 entries at a time (as int64), then only the
    words holding a ``True`` are looked into.
    """
    words = torch.nonzero(mask.view(torch.int64)).view(-1)
    sub = torch.nonzero(mask.view(-1, 8).index_select(0, words))
    return words[sub[:, 0]] * 8 + sub[:, 1]


def leave_one_out(
    features: np.ndarray | torch.Tensor,
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    **kwargs: object,
) -> RetrievalResult:
    """Retrieval within one split: every item queries all the others (itself excluded)."""
    return retrieval_metrics(features, labels, features, labels, exclude_self=True, **kwargs)
