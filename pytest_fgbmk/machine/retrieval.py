"""Image retrieval: mAP over the whole ranked gallery, recall@k, per-query average precision.

Query = each test image, gallery = the train split (or, with :func:`leave_one_out`, the
test split itself minus the query). Similarity is the cosine of L2-normalised features.

The work is count-based and chunked: a block of query rows is scored against the whole
gallery (``chunk_rows × n`` floats at a time, never ``m × n``), and each query's AP is
computed from the *rank of each positive* alone. Queries are sorted by class, so every
query of a class segment of a block shares its positive set ``P``; the ``|P|`` positive scores are sorted,
every gallery score is bucketed among them (``searchsorted``, ``O(n log |P|)``) and a
suffix sum of the bucket counts gives, for each positive, how many gallery items score at
least as high. No row is ever fully sorted.

Ties (deterministic, documented):

* **AP** follows scikit-learn's tie-aware ``average_precision_score``: a group of gallery
  items with equal scores is one threshold, so every positive of the group gets the
  precision measured at the group's end, ``AP = 1/|P| · Σ_{j∈P} TP(≥s_j) / N(≥s_j)``.
* **recall@k** is pessimistic: a negative tied with the best positive ranks ahead of it, so
  a query hits at ``k`` iff fewer than ``k`` negatives score ``≥`` its best positive.

A query with no positive in the gallery has no AP: its entry is NaN, it is left out of
mAP and recall, and counted in :attr:`RetrievalResult.without_positive`.
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


def _as_tensor(x: np.ndarray | torch.Tensor, name: str, dtype: torch.dtype | None) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ConfigError(f"{name} features must be 2-D (items × dim), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.to(torch.float64 if dtype is None else dtype)
    elif dtype is not None:
        t = t.to(dtype)
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    if not torch.isfinite(t).all():
        raise ConfigError(f"{name} features contain NaN or infinite values")
    return t


def _labels(x: Sequence[int] | np.ndarray | torch.Tensor, n: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x), dtype=torch.int64)
    if t.ndim != 1 or t.shape[0] != n:
        raise ConfigError(f"{name} labels must be 1-D with {n} entries, got {tuple(t.shape)}")
    return t


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


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
    64 MiB worth). ``dtype`` defaults to the features' own (float32 for float16 input).
    ``exclude_self`` (query ``i`` is gallery item ``i``) is the leave-one-out setting.
    """
    q = _as_tensor(query, "query", dtype)
    g = _as_tensor(gallery, "gallery", dtype)
    if q.shape[1] != g.shape[1]:
        raise ConfigError(
            f"query and gallery features differ in dimension ({q.shape[1]} vs {g.shape[1]})"
        )
    if g.dtype != q.dtype:
        g = g.to(q.dtype)
    ql = _labels(query_labels, q.shape[0], "query")
    gl = _labels(gallery_labels, g.shape[0], "gallery")
    if exclude_self and q.shape[0] != g.shape[0]:
        raise ConfigError("exclude_self needs the query set to be the gallery itself")
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ConfigError(f"recall ks must be positive integers, got {ks}")
    dev = torch.device(device) if device is not None else q.device
    q, g = q.to(dev), g.to(dev)
    if normalize:
        q, g = _normalise(q), _normalise(g)
    m, n = q.shape[0], g.shape[0]
    if chunk_rows is None:
        chunk_rows = max(1, DEFAULT_BLOCK_ELEMENTS // max(n, 1))
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be at least 1, got {chunk_rows}")

    ap = np.full(m, np.nan, dtype=np.float64)
    hits = {k: np.zeros(m, dtype=bool) for k in ks}
    gl_np = gl.numpy()
    ql_np = ql.numpy()
    order = np.argsort(ql_np, kind="stable")
    positives = {int(c): np.flatnonzero(gl_np == c) for c in np.unique(ql_np)}
    gt = g.T.contiguous()
    for start in range(0, m, chunk_rows):
        # one product per block of class-sorted queries; then one pass per class segment
        rows = order[start : start + chunk_rows]
        rows_t = torch.as_tensor(rows, device=dev)
        scores = q[rows_t] @ gt
        if exclude_self:
            scores[torch.arange(len(rows), device=dev), rows_t] = -torch.inf
        labs = ql_np[rows]
        cuts = np.flatnonzero(np.diff(labs)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(rows)], strict=True):
            pos = positives[int(labs[lo])]
            if pos.size == 0 or (exclude_self and pos.size == 1):
                continue
            seg_ap, seg_rank = _block_ap(
                scores[lo:hi], torch.as_tensor(pos, device=dev), exclude_self
            )
            seg = rows[lo:hi]
            ap[seg] = seg_ap.cpu().numpy()
            br = seg_rank.cpu().numpy()
            for k in ks:
                hits[k][seg] = br < k
    return RetrievalResult(ap=ap, hits=hits, without_positive=int(np.isnan(ap).sum()))


def _block_ap(
    scores: torch.Tensor, pos: torch.Tensor, exclude_self: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """AP of each row, and the number of negatives scoring ≥ the row's best positive."""
    a, _ = torch.sort(scores[:, pos], dim=1)  # ascending positive scores
    if exclude_self:
        a = a[:, 1:].contiguous()  # the query itself, at -inf, is no positive
    p = a.shape[1]
    counts = _bucket_counts(scores, a)
    at_least = counts.flip(1).cumsum(1).flip(1)[:, 1:]  # N(>= a_t) for t = 0..p-1
    tp_at_least = p - torch.searchsorted(a, a, right=False)  # positives scoring >= a_t
    precision = tp_at_least.to(torch.float64) / at_least.to(torch.float64)
    ap = precision.sum(1) / p
    ties_pos = (a >= a[:, -1:]).sum(1)
    negatives_ahead = at_least[:, -1] - ties_pos  # gallery ≥ the best positive, minus positives
    return ap, negatives_ahead


#: Below this share of gallery scores at or above a row's lowest positive, only those are bucketed.
SPARSE_SHARE = 0.5


def _bucket_counts(scores: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``counts[r, b]``: gallery items of row ``r`` with exactly ``b`` positive scores ``<= s``.

    A score counts in ``N(>= a_t)`` iff its bucket ``b > t``. Items below a row's lowest
    positive (bucket 0) never count, so when they are the majority (float32 scores) the
    cheaper :func:`_binned_counts` is used; otherwise every score is bucketed per row.
    """
    c, p = a.shape
    if scores.dtype == torch.float32:
        above = scores >= a[:, :1]
        if int(above.sum()) < SPARSE_SHARE * scores.numel():
            return _binned_counts(scores, a)
    bucket = torch.searchsorted(a, scores, right=True)
    counts = torch.zeros(c, p + 1, dtype=torch.int64, device=scores.device)
    counts.scatter_add_(1, bucket, torch.ones_like(bucket))
    return counts


#: Bins per positive in the monotone pre-bucketing of :func:`_binned_counts`.
BINS_PER_POSITIVE = 16


def _binned_counts(scores: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """:func:`_bucket_counts` by a monotone binning ``f`` shared by scores and positives.

    ``f(s) = clamp(floor((s - a_0) · B / (a_max - a_0)), -1, B)`` is non-decreasing in ``s``,
    so ``#{t: a_t <= s} = #{t: f(a_t) < f(s)}`` exactly whenever no positive shares the
    bin of ``s``: those scores are only histogrammed per bin. The few scores in a bin that
    holds a positive are bucketed exactly on order-preserving integer keys.
    """
    c, p = a.shape
    dev = a.device
    n_bins = BINS_PER_POSITIVE * p
    width = n_bins + 2  # bins -1..n_bins, shifted by one
    lo = a[:, :1]
    inv = n_bins / (a[:, -1:] - lo)
    big = torch.finfo(a.dtype).max
    inv = torch.where(torch.isfinite(inv), inv, torch.full_like(inv, big))

    def binned(x: torch.Tensor) -> torch.Tensor:
        t = torch.sub(x, lo).mul_(inv).floor_().clamp_(-1, n_bins)
        return t.to(torch.int64)

    row_off = torch.arange(c, device=dev, dtype=torch.int64)[:, None] * width + 1
    fa = binned(a)
    fs = binned(scores).add_(row_off).view(-1)
    hist = torch.bincount(fs, minlength=c * width).view(c, width)
    occupied = torch.zeros(c, width, dtype=torch.bool, device=dev)
    occupied.scatter_(1, fa + 1, True)
    hist.masked_fill_(occupied, 0)
    bins = torch.arange(-1, n_bins + 1, device=dev, dtype=fa.dtype).expand(c, width)
    bucket_of_bin = torch.searchsorted(fa.contiguous(), bins.contiguous(), right=False)
    counts = torch.zeros(c, p + 1, dtype=torch.int64, device=dev)
    counts.scatter_add_(1, bucket_of_bin, hist)
    flat = torch.nonzero(occupied.view(-1).take(fs)).view(-1)
    rows = torch.div(flat, scores.shape[1], rounding_mode="floor")
    row_base = torch.arange(c, device=dev, dtype=torch.int64) << 32
    bounds = (row_base[:, None] + _orderable(a)).reshape(-1)
    keys = (rows << 32) + _orderable(scores.reshape(-1)[flat])
    bucket = torch.searchsorted(bounds, keys, right=True) - rows * p
    exact = torch.bincount(rows * (p + 1) + bucket, minlength=c * (p + 1))
    return counts.add_(exact.view(c, p + 1))


def _orderable(x: torch.Tensor) -> torch.Tensor:
    """float32 → int64 in [0, 2^32), ordered exactly as the floats (``-0.0`` equals ``+0.0``)."""
    bits = (x + 0.0).view(torch.int32).to(torch.int64)
    unsigned = bits & 0xFFFFFFFF
    return torch.where(bits < 0, 0xFFFFFFFF - unsigned, unsigned + 0x80000000)


def leave_one_out(
    features: np.ndarray | torch.Tensor,
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    **kwargs: object,
) -> RetrievalResult:
    """Retrieval within one split: every item queries all the others (itself excluded)."""
    return retrieval_metrics(features, labels, features, labels, exclude_self=True, **kwargs)
