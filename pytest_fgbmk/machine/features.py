"""Feature extraction: a dataset split's encode views, in batches, through the feature cache.

The model is a :class:`~pytest_fgbmk.models.base.ModelAdapter` or a zero-argument callable
that loads one; with a callable the caller names the model's fingerprint and preprocessing
key, and the model is loaded only when some chunk must be computed, so a rerun with
everything cached never loads it. Images go through the adapter's own ``encode`` (its own
preprocessing). Progress (images done, img/s, ETA) goes to ``progress``, a
:class:`~pytest_fgbmk.progress.ProgressOutput` (a text stream is accepted too; stderr by
default; None: silent), updated after every encoded batch.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import torch

from pytest_fgbmk import rule_versions
from pytest_fgbmk.data.records import Dataset
from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.machine.feature_store import FeatureKey, FeatureStore, input_signature
from pytest_fgbmk.models.base import ModelAdapter
from pytest_fgbmk.prefetch import prefetched
from pytest_fgbmk.progress import Progress, ProgressOutput, as_output

DEFAULT_BATCH = 32


@dataclass
class ExtractionStats:
    """What one extraction did: chunks served from cache vs computed, images encoded."""

    cached_chunks: int = 0
    computed_chunks: int = 0
    images: int = 0
    seconds: float = 0.0
    model_loaded: bool = False

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


class LazyModel:
    """An adapter loaded on first use; ``fingerprint`` and ``preprocessing_key`` known up front."""

    def __init__(
        self,
        model: ModelAdapter | Callable[[], ModelAdapter],
        fingerprint: str | None = None,
        preprocessing_key: str | None = None,
    ) -> None:
        if isinstance(model, ModelAdapter):
            self._model: ModelAdapter | None = model
            self._load = None
            self.fingerprint = fingerprint or model.features_fingerprint
            self.preprocessing_key = preprocessing_key or model.preprocessing.key()
        else:
            if fingerprint is None or preprocessing_key is None:
                raise ConfigError(
                    "a lazily loaded model needs its fingerprint and preprocessing key up front"
                )
            self._model = None
            self._load = model
            self.fingerprint = fingerprint
            self.preprocessing_key = preprocessing_key
        self.loaded_here = False

    def get(self) -> ModelAdapter:
        if self._model is None:
            assert self._load is not None
            self._model = self._load()
            self.loaded_here = True
        if not self._model.can_encode:
            raise ModelError(f"model {self._model.name!r} cannot encode images (no feature views)")
        return self._model


def extract_features(
    model: LazyModel | ModelAdapter | Callable[[], ModelAdapter],
    dataset: Dataset,
    split: str,
    store: FeatureStore,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressOutput | TextIO | None = sys.stderr,
    stats: ExtractionStats | None = None,
    label: str | None = None,
) -> dict[str, torch.Tensor]:
    """Every encode view of ``dataset``'s ``split``, rows in split order (cached, resumable).

    Returns ``{view: tensor (n_samples, dim)}`` (``blocks``: (n_samples, n, dim)), float32.
    ``label`` starts the progress lines (default ``"features DATASET/SPLIT:"``); progress is
    shown only when some chunk is computed. Raises ConfigError for a missing split or a
    batch size under 1, ModelError when the model cannot encode or its chunks disagree.
    """
    lazy = model if isinstance(model, LazyModel) else LazyModel(model)
    samples = dataset.split(split)
    if not samples:
        raise ConfigError(
            f"dataset {dataset.name!r} has no {split!r} split to extract features from"
        )
    if batch_size < 1:
        raise ConfigError(f"feature batch size must be at least 1, got {batch_size}")
    stats = stats if stats is not None else ExtractionStats()
    # features depend on how the files were decoded too: the image rule and EXIF handling
    decoding = f"{rule_versions.rules('images')};exif={dataset.exif_orientation}"
    key = FeatureKey(
        lazy.fingerprint, dataset.index_hash, split, f"{lazy.preprocessing_key};{decoding}"
    )
    store.write_manifest(key, len(samples))
    rows = store.chunk_rows
    parts: list[dict[str, np.ndarray]] = []
    t0 = time.perf_counter()
    name = f"features {dataset.name}/{split}"
    output = as_output(progress)
    bar: Progress | None = None
    for index, start in enumerate(range(0, len(samples), rows)):
        chunk = samples[start : start + rows]
        signature = input_signature(dataset, chunk)
        views = store.load_chunk(key, index, signature)
        if views is None:
            enc = lazy.get()
            if bar is None:
                bar = Progress(output, label or f"{name}:", len(samples), "images", rate_unit="img")
                bar.update(start)  # the chunks before were cached
            views = _encode(enc, dataset, chunk, batch_size, bar.update)
            store.save_chunk(key, index, signature, views)
            stats.computed_chunks += 1
            stats.images += len(chunk)
            stats.seconds = time.perf_counter() - t0
        else:
            stats.cached_chunks += 1
            if bar is not None:
                bar.update(len(chunk))
        parts.append(views)
    stats.seconds = time.perf_counter() - t0
    stats.model_loaded = stats.model_loaded or lazy.loaded_here
    if bar is not None:
        bar.close()
    names = set(parts[0])
    for p in parts[1:]:
        if set(p) != names:
            raise ModelError(
                f"{name}: chunks hold different views ({sorted(names)} vs {sorted(p)}); "
                f"delete {store.entry(key)} and rerun"
            )
    return {n: torch.from_numpy(np.concatenate([p[n] for p in parts])) for n in sorted(names)}


def _encode(
    model: ModelAdapter,
    dataset: Dataset,
    samples,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    batches = [samples[s : s + batch_size] for s in range(0, len(samples), batch_size)]
    stages = model.encode_stages()
    if stages is None:
        inputs = prefetched(batches, dataset.open_image)
        encode = model.encode
    else:  # decode and preprocess together on the threads, ahead of the model
        preprocess, encode_pixels = stages
        inputs = prefetched(batches, lambda s: preprocess(dataset.open_image(s)))

        def encode(pixels: list[torch.Tensor]) -> dict[str, torch.Tensor]:
            return encode_pixels(torch.stack(pixels))

    for images in inputs:
        with torch.no_grad():
            views = encode(images)
        for name, t in views.items():
            arr = t.detach().float().cpu().numpy()
            if arr.shape[0] != len(images):
                raise ModelError(
                    f"model {model.name!r} returned {arr.shape[0]} rows of {name!r} "
                    f"for {len(images)} images"
                )
            out.setdefault(name, []).append(arr)
        if on_batch is not None:
            on_batch(len(images))
    return {n: np.concatenate(v) for n, v in out.items()}


def labels_of(dataset: Dataset, split: str) -> np.ndarray:
    """Class indices of a split (single-label) or a 0/1 matrix (multi-label datasets)."""
    samples = dataset.split(split)
    if dataset.multilabel:
        y = np.zeros((len(samples), len(dataset.categories)), dtype=np.int64)
        for i, s in enumerate(samples):
            y[i, list(s.labels or (s.category,))] = 1
        return y
    return np.array([s.category for s in samples], dtype=np.int64)
