"""Feature extraction through the chunked cache: resume, staleness, no model load when cached."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pytest_fgbmk.data.records import Dataset, Sample, build_categories
from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.machine.feature_store import FeatureStore
from pytest_fgbmk.machine.features import ExtractionStats, LazyModel, extract_features, labels_of
from tests.fake_models import CountingModel, PixelEncoder, StagedPixelEncoder


def _dataset(root: Path, n: int = 10) -> Dataset:
    samples = []
    for i in range(n):
        rel = f"img/{i:03d}.png"
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), (i * 10, 0, 255 - i)).save(root / rel)
        split = "train" if i < 7 else "test"
        samples.append(Sample(f"s{i}", rel, i % 2, f"c{i % 2}", split))
    return Dataset(
        "toy", root, "bird", ("species",), build_categories(["c0", "c1"]), tuple(samples)
    )


def _never():
    raise AssertionError("the model was loaded although everything was cached")


def test_extract_then_cached_without_loading_the_model(tmp_path):
    ds = _dataset(tmp_path / "data")
    store = FeatureStore(tmp_path / "cache", chunk_rows=3)
    model = PixelEncoder()
    out = extract_features(model, ds, "train", store, batch_size=2, progress=io.StringIO())
    assert out["cls"].shape == (7, 3) and out["blocks"].shape == (7, 2, 3)
    np.testing.assert_allclose(out["cls"][:, 0].numpy(), [i * 10 * 1.0 for i in range(7)])
    assert model.encoded == 7
    stats = ExtractionStats()
    lazy = LazyModel(_never, fingerprint="pixel-v1", preprocessing_key=model.preprocessing.key())
    again = extract_features(lazy, ds, "train", store, progress=None, stats=stats)
    assert stats.cached_chunks == 3 and stats.computed_chunks == 0 and not stats.model_loaded
    assert torch.equal(again["cls"], out["cls"])


def test_interrupted_extraction_resumes_where_it_stopped(tmp_path):
    ds = _dataset(tmp_path / "data")
    store = FeatureStore(tmp_path / "cache", chunk_rows=2)
    with pytest.raises(RuntimeError, match="killed"):
        extract_features(
            PixelEncoder(fail_after=4), ds, "train", store, batch_size=1, progress=None
        )
    chunks = sorted(p.name for p in store.root.rglob("chunk-*.npz"))
    assert chunks == ["chunk-00000.npz", "chunk-00001.npz"]  # finished chunks kept
    assert not list(store.root.rglob(".tmp-*"))
    model = PixelEncoder()
    stats = ExtractionStats()
    out = extract_features(model, ds, "train", store, progress=None, stats=stats)
    assert model.encoded == 3 and stats.cached_chunks == 2 and stats.computed_chunks == 2
    full = extract_features(
        PixelEncoder(), ds, "train", FeatureStore(tmp_path / "c2", 2), progress=None
    )
    assert torch.equal(out["cls"], full["cls"])


def test_changed_image_is_recomputed_not_served_stale(tmp_path):
    ds = _dataset(tmp_path / "data")
    store = FeatureStore(tmp_path / "cache", chunk_rows=3)
    extract_features(PixelEncoder(), ds, "train", store, progress=None)
    path = ds.image_path(ds.split("train")[4])
    Image.new("RGB", (4, 4), (200, 0, 0)).save(path)
    os.utime(path, ns=(1, 1))  # a different modification time for certain
    model = PixelEncoder()
    stats = ExtractionStats()
    out = extract_features(model, ds, "train", store, progress=None, stats=stats)
    assert model.encoded == 3 and stats.computed_chunks == 1  # only the chunk with image 4
    assert out["cls"][4, 0] == 200.0


def test_other_model_split_or_index_is_another_entry(tmp_path):
    ds = _dataset(tmp_path / "data")
    store = FeatureStore(tmp_path / "cache", chunk_rows=4)
    extract_features(PixelEncoder(), ds, "train", store, progress=None)
    m = PixelEncoder()
    extract_features(m, ds, "test", store, progress=None)
    assert m.encoded == 3
    relabelled = Dataset(
        ds.name, ds.root, ds.meta_category, ds.levels, ds.categories,
        tuple(Sample(s.id, s.path, 1 - s.category, s.category_name, s.split) for s in ds.samples),
    )  # fmt: skip
    m2 = PixelEncoder()
    extract_features(m2, relabelled, "train", store, progress=None)
    assert m2.encoded == 7
    lazy = LazyModel(PixelEncoder, fingerprint="other", preprocessing_key="p")
    stats = ExtractionStats()
    extract_features(lazy, ds, "train", store, progress=None, stats=stats)
    assert stats.model_loaded and stats.computed_chunks == 2


def test_damaged_chunk_is_recomputed(tmp_path):
    ds = _dataset(tmp_path / "data")
    store = FeatureStore(tmp_path / "cache", chunk_rows=4)
    extract_features(PixelEncoder(), ds, "train", store, progress=None)
    next(store.root.rglob("chunk-00001.npz")).write_bytes(b"garbage")
    m = PixelEncoder()
    extract_features(m, ds, "train", store, progress=None)
    assert m.encoded == 3


def test_progress_line_and_errors(tmp_path):
    ds = _dataset(tmp_path / "data")
    buf = io.StringIO()
    extract_features(PixelEncoder(), ds, "train", FeatureStore(tmp_path / "c", 4), progress=buf)
    assert "features toy/train: 7/7 images" in buf.getvalue() and "img/s" in buf.getvalue()
    with pytest.raises(ConfigError, match="no 'val' split"):
        extract_features(PixelEncoder(), ds, "val", FeatureStore(tmp_path / "c", 4))
    with pytest.raises(ConfigError, match="fingerprint"):
        LazyModel(PixelEncoder)

    with pytest.raises(ModelError, match="cannot encode"):  # a model that only answers
        extract_features(
            CountingModel(), ds, "train", FeatureStore(tmp_path / "d", 4), progress=None
        )


def test_labels_of_single_and_multilabel(tmp_path):
    ds = _dataset(tmp_path / "data")
    np.testing.assert_array_equal(labels_of(ds, "test"), [1, 0, 1])
    ml = Dataset(
        "ml", ds.root, "x", ("l",), ds.categories,
        (Sample("a", "img/000.png", 0, "c0", "train", labels=(0, 1)),), multilabel=True,
    )  # fmt: skip
    np.testing.assert_array_equal(labels_of(ml, "train"), [[1, 1]])


def test_staged_encoder_gives_the_same_features_in_batches(tmp_path):
    ds = _dataset(tmp_path / "d", n=10)
    plain = extract_features(
        PixelEncoder(), ds, "train", FeatureStore(tmp_path / "a"), progress=None
    )
    staged_model = StagedPixelEncoder()
    staged = extract_features(
        staged_model, ds, "train", FeatureStore(tmp_path / "b"), batch_size=3, progress=None
    )
    assert sorted(staged) == sorted(plain)
    for name in plain:
        assert torch.equal(staged[name], plain[name])
    assert staged_model.batches == [3, 3, 1]
