"""The FG-BMK release's machine-oriented figures, computed the way the release computes them.

``--fgbmk-protocol release`` reports these beside ours; they are **never gated** and every
output labels them :data:`RELEASE_LABEL`, because the release picks its heads on the test
split. Source: the release's ``demo/machine_evaluation`` scripts (``eval_retrieval.py``,
``eval_linear.py``, ``dinov2/eval/metrics.py``), read for their definitions only.

Retrieval (:func:`release_retrieval`), per query ``i`` of the test split against the train
split as gallery:

* similarity is the negative Euclidean distance of the (unnormalised) features (float64 here);
* only the ``k = 10`` nearest gallery items count: a class scores the similarity of its
  nearest item among those 10, every other class ``-1e4`` (then a softmax, which keeps
  the order);
* the release's "mAP" is the mean over queries of ``1 / rank`` of the query's class in that
  class ranking (its ``RetrievalMAP`` with one relevant class per query): a class-level
  reciprocal rank, **not** the average precision over the ranked gallery;
* ``recall@k`` is 1 when the class ranks in the top ``k``, averaged **per class** (the macro
  average of torchmetrics' ``MulticlassRecall``): over the classes that have a query, plus,
  for ``k = 1``, the classes predicted without having a query (recall 0).

Ties, made deterministic (the release's torch sorts are not stable): classes with equal
scores rank by class index; a class absent from the 10 neighbours ranks after all present
ones, absent classes in class-index order (what a stable sort of the release's softmax
gives; torch's unstable order moves the bundled birds' figure by 0.005 points). Equal
distances take the lower gallery index first.

Linear probe (:func:`release_probe`): the release's ``eval_linear.py`` settings: views from
the last 1 and 2 blocks' CLS tokens, each with and without the mean patch token; heads
``nn.Linear`` initialised N(0, 0.01²) with zero bias, on raw (unstandardised) features;
Adam with weight decay 0, learning rates ``{1, 2, 5, 10, 20, 50}·10⁻³`` scaled by
``batch/256`` (batch 128), a cosine schedule to 0 over ``10 × 1000`` iterations of shuffled
batches; cross-entropy; the head with the best top-1 **on the test split** is reported
(first in grid order among equals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pytest_fgbmk.errors import ConfigError

#: How every release figure is labelled wherever it appears.
RELEASE_LABEL = "release protocol (head chosen on test)"
#: Gallery neighbours the release's retrieval looks at.
RELEASE_NEIGHBOURS = 10
RELEASE_KS = (1, 10)
#: The release's probe schedule: 10 epochs of 1,000 iterations, whatever the dataset size.
RELEASE_ITERATIONS = 10 * 1000
#: Query rows per distance block (rows × gallery float64 at a time).
DISTANCE_ROWS = 256


@dataclass(frozen=True)
class ReleaseRetrieval:
    """The release's retrieval figures (fractions 0–1) and each query's class rank.

    ``rank``: (m,) 1-based rank of the query's class in its class ranking; ``predicted``:
    (m,) the top-ranked class (the nearest neighbour's).
    """

    rank: np.ndarray
    predicted: np.ndarray
    labels: np.ndarray
    n_classes: int

    @property
    def reciprocal_rank(self) -> np.ndarray:
        return 1.0 / self.rank

    @property
    def mean_reciprocal_rank(self) -> float:
        """The release's "mAP"."""
        return float(self.reciprocal_rank.mean()) if self.rank.size else float("nan")

    def recall(self, k: int) -> float:
        """Recall@k averaged per class, as the release's macro ``MulticlassRecall``."""
        return per_class_recall(self.rank <= k, self.labels, self.predicted, k, self.n_classes)


def per_class_recall(
    hit: np.ndarray, labels: np.ndarray, predicted: np.ndarray, k: int, n_classes: int
) -> float:
    """Mean over classes of the share of a class's queries that hit at ``k``.

    The classes averaged: those with a query; for ``k = 1`` also those predicted without
    any query (recall 0), as torchmetrics' macro average counts every class with a true
    positive, false positive or false negative at top-1 and every class with a query above.
    """
    hit = np.asarray(hit, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    hits = np.bincount(labels, weights=hit.astype(float), minlength=n_classes)
    used = counts > 0
    if k == 1:
        used |= np.bincount(np.asarray(predicted, dtype=np.int64), minlength=n_classes) > 0
    if not used.any():
        return float("nan")
    rate = np.divide(hits, counts, out=np.zeros_like(hits), where=counts > 0)
    return float(rate[used].mean())


def _labels(x: Sequence[int] | np.ndarray, n: int, what: str) -> np.ndarray:
    y = np.asarray(x)
    if y.ndim != 1 or y.shape[0] != n:
        raise ConfigError(f"{what} labels must be 1-D with {n} entries, got {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0):
        raise ConfigError(f"{what} labels must be non-negative integer class indices")
    return y.astype(np.int64)


def release_retrieval(
    query: np.ndarray | torch.Tensor,
    query_labels: Sequence[int] | np.ndarray,
    gallery: np.ndarray | torch.Tensor,
    gallery_labels: Sequence[int] | np.ndarray,
    n_classes: int | None = None,
    neighbours: int = RELEASE_NEIGHBOURS,
) -> ReleaseRetrieval:
    """The release's class ranking of each query from its ``neighbours`` nearest gallery items.

    ``query``: (m, d), ``gallery``: (n, d) features; labels: class indices; ``n_classes``
    defaults to one more than the largest label. Raises :class:`ConfigError` on shapes,
    non-finite features or a gallery smaller than ``neighbours``.
    """
    q = torch.as_tensor(np.asarray(query, dtype=np.float64))
    g = torch.as_tensor(np.asarray(gallery, dtype=np.float64))
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ConfigError(
            f"query and gallery features must be (items × dim) of one dim, got "
            f"{tuple(q.shape)} and {tuple(g.shape)}"
        )
    if not (torch.isfinite(q).all() and torch.isfinite(g).all()):
        raise ConfigError("query or gallery features contain NaN or infinite values")
    yq = _labels(query_labels, q.shape[0], "query")
    yg = _labels(gallery_labels, g.shape[0], "gallery")
    if g.shape[0] < neighbours:
        raise ConfigError(
            f"the release's retrieval looks at {neighbours} neighbours; the gallery has "
            f"only {g.shape[0]} items"
        )
    top = max(int(yq.max(initial=-1)), int(yg.max(initial=-1))) + 1
    c = top if n_classes is None else int(n_classes)
    if c < top:
        raise ConfigError(f"n_classes={c} is smaller than the labels need ({top})")
    m = q.shape[0]
    rank = np.zeros(m, dtype=np.int64)
    predicted = np.zeros(m, dtype=np.int64)
    for lo in range(0, m, DISTANCE_ROWS):
        d = torch.cdist(
            q[lo : lo + DISTANCE_ROWS], g, compute_mode="donot_use_mm_for_euclid_dist"
        ).numpy()
        nearest = np.argsort(d, axis=1, kind="stable")[:, :neighbours]
        for r in range(d.shape[0]):
            rank[lo + r], predicted[lo + r] = _class_rank(
                d[r, nearest[r]], yg[nearest[r]], int(yq[lo + r])
            )
    return ReleaseRetrieval(rank=rank, predicted=predicted, labels=yq, n_classes=c)


def _class_rank(dist: np.ndarray, classes: np.ndarray, truth: int) -> tuple[int, int]:
    """(rank of ``truth``, top class) from the neighbours' distances (ascending) and classes."""
    best: dict[int, float] = {}
    for dv, cv in zip(dist.tolist(), classes.tolist(), strict=True):
        best.setdefault(int(cv), dv)
    order = sorted(best, key=lambda cls: (best[cls], cls))
    if truth in best:
        return order.index(truth) + 1, order[0]
    absent_before = truth - sum(1 for cls in best if cls < truth)
    return len(best) + absent_before + 1, order[0]


# -- the release's linear probe ----------------------------------------------------------


@dataclass(frozen=True)
class ReleaseProbeSettings:
    """The release's probe grid and schedule (``eval_linear.py`` defaults)."""

    lrs: tuple[float, ...] = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2)
    batch_size: int = 128
    iterations: int = RELEASE_ITERATIONS
    blocks: tuple[int, ...] = (1, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ConfigError(f"release probe learning rates must be positive, got {self.lrs}")
        if self.batch_size < 1 or self.iterations < 1:
            raise ConfigError("release probe batch size and iterations must be at least 1")

    @property
    def scaled_lrs(self) -> tuple[float, ...]:
        """The release's ``scale_lr``: ``lr · batch / 256`` on one GPU."""
        return tuple(lr * self.batch_size / 256.0 for lr in self.lrs)

    def key(self) -> str:
        return (
            f"release;lrs={','.join(f'{x:g}' for x in self.lrs)};bs={self.batch_size};"
            f"it={self.iterations};blocks={','.join(map(str, self.blocks))};seed={self.seed}"
        )


@dataclass(frozen=True)
class ReleaseProbeResult:
    """The head the release would report (best top-1 on test) and every head's test top-1."""

    head: str
    top1: float
    mean_per_class: float
    test_scores: dict[str, float]


def release_views(
    encoded: Mapping[str, torch.Tensor], blocks: Sequence[int] = (1, 2)
) -> dict[str, torch.Tensor]:
    """The release's probe inputs: last ``n`` blocks' CLS tokens, ± the mean patch token.

    ``n = 1`` is the ``cls`` view; ``n > 1`` concatenates the last ``n`` entries of
    ``blocks`` (needs that many); ``avgpool`` appends ``patch_mean`` when the model gives it.
    """
    if "cls" not in encoded:
        raise ConfigError(f"features have no 'cls' view (have {sorted(encoded)})")
    out: dict[str, torch.Tensor] = {}
    stacked = encoded.get("blocks")
    patch = encoded.get("patch_mean")
    for n in blocks:
        if n == 1:
            x = encoded["cls"].float()
        elif stacked is not None and stacked.ndim == 3 and stacked.shape[1] >= n:
            x = stacked[:, -n:].float().flatten(1)
        else:
            continue
        out[f"blocks={n}|avgpool=False"] = x
        if patch is not None:
            out[f"blocks={n}|avgpool=True"] = torch.cat([x, patch.float()], 1)
    return out


def release_probe(
    train_views: Mapping[str, torch.Tensor],
    train_labels: np.ndarray,
    test_views: Mapping[str, torch.Tensor],
    test_labels: np.ndarray,
    n_classes: int,
    settings: ReleaseProbeSettings | None = None,
) -> ReleaseProbeResult:
    """Train the release's grid on train, score every head on test, report the best on test.

    ``train_views``/``test_views``: name → (n, d) features (same names); labels: class
    indices. Heads of one view share each batch. Raises :class:`ConfigError` on mismatched
    views or labels.
    """
    s = settings or ReleaseProbeSettings()
    ytr = _labels(train_labels, len(train_labels), "train")
    yte = _labels(test_labels, len(test_labels), "test")
    if sorted(train_views) != sorted(test_views) or not train_views:
        raise ConfigError(f"train views {sorted(train_views)} differ from {sorted(test_views)}")
    gen = torch.Generator().manual_seed(s.seed)
    scores: dict[str, float] = {}
    per_class: dict[str, float] = {}
    for name in train_views:  # grid order: blocks, avgpool, then lrs
        xtr = torch.as_tensor(train_views[name]).float()
        xte = torch.as_tensor(test_views[name]).float()
        if xtr.shape[0] != ytr.size or xte.shape[0] != yte.size:
            raise ConfigError(f"view {name!r}: features and labels differ in length")
        weights = _train_heads(xtr, torch.as_tensor(ytr), n_classes, s, gen)
        for lr, (w, b) in zip(s.scaled_lrs, weights, strict=True):
            pred = (xte @ w.T + b).argmax(1).numpy()
            head = f"{name}|lr={lr:g}"
            scores[head] = float((pred == yte).mean())
            per_class[head] = per_class_recall(pred == yte, yte, pred, 1, n_classes)
    best = max(scores, key=lambda h: scores[h])  # the first of equals, as the release
    return ReleaseProbeResult(best, scores[best], per_class[best], scores)


def _train_heads(
    x: torch.Tensor, y: torch.Tensor, c: int, s: ReleaseProbeSettings, gen: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One head per learning rate on ``x`` (n, d): Adam, cosine to 0, cross-entropy."""
    n, d = x.shape
    heads = []
    groups = []
    for lr in s.scaled_lrs:
        w = (torch.randn(c, d, generator=gen) * 0.01).requires_grad_()
        b = torch.zeros(c, requires_grad=True)
        heads.append((w, b))
        groups.append({"params": [w, b], "lr": lr})
    opt = torch.optim.Adam(groups, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, s.iterations, eta_min=0.0)
    batch = min(s.batch_size, n)
    order = torch.randperm(n, generator=gen)
    at = 0
    for _ in range(s.iterations):
        if at + batch > n:  # the release's infinite shuffled sampler, batches kept whole
            order, at = torch.randperm(n, generator=gen), 0
        idx = order[at : at + batch]
        at += batch
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = sum(torch.nn.functional.cross_entropy(xb @ w.T + b, yb) for w, b in heads)
        loss.backward()  # type: ignore[union-attr]
        opt.step()
        sched.step()
    return [(w.detach(), b.detach()) for w, b in heads]


def release_probe_settings(seed: int) -> ReleaseProbeSettings:
    """The release's settings with the run's seed (iterations read from
    :data:`RELEASE_ITERATIONS` at call time)."""
    return ReleaseProbeSettings(iterations=RELEASE_ITERATIONS, seed=seed)
