"""The probe: linear heads on frozen features answering FG-BMK's questions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.linear_model import LogisticRegression

from pytest_fgbmk.data.records import (
    Annotation,
    AttributeGroup,
    Dataset,
    Sample,
    build_categories,
)
from pytest_fgbmk.errors import ModelError
from pytest_fgbmk.models import probe as probe_mod
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.models.probe import ProbeModel, fit_linear, load_probe
from pytest_fgbmk.questions.records import Question
from tests.fake_models import Evil, MeanColourEncoder

# species → (genus, colour, colour attribute, brightness attribute)
SPECIES = {
    "robin": ("turdus", (230, 20, 20), "red", "light"),
    "thrush": ("turdus", (20, 200, 20), "green", "light"),
    "jay": ("garrulus", (20, 20, 220), "blue", "dark"),
    "crow": ("garrulus", (110, 110, 110), "grey", "dark"),
}
NAMES = list(SPECIES)
DECOY = "DECOY-never-read"


def _dataset(root: Path, per_class: int = 4, seed: int = 0) -> Dataset:
    rs = np.random.RandomState(seed)
    cats = build_categories(NAMES, [(SPECIES[n][0], n) for n in NAMES])
    samples = []
    for split, count in (("train", per_class), ("test", 2)):
        for ci, name in enumerate(NAMES):
            genus, colour, attr, bright = SPECIES[name]
            for k in range(count):
                jitter = rs.randint(-15, 16, 3)
                rgb = tuple(int(v) for v in np.clip(np.array(colour) + jitter, 0, 255))
                rel = f"{split}/{name}_{k}.png"
                (root / split).mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (12, 10), rgb).save(root / rel)
                samples.append(
                    Sample(
                        id=f"{split}-{name}-{k}",
                        path=rel,
                        category=ci,
                        category_name=name,
                        split=split,
                        taxonomy=(genus, name),
                        annotations=(
                            Annotation("colour", attr, 4),
                            Annotation("brightness", bright, 4),
                            # a guess (certainty 2) is not a positive for the probe
                            Annotation("brightness", "dark" if bright == "light" else "light", 2),
                        ),
                    )
                )
    return Dataset(
        name="toybirds",
        root=root,
        meta_category="bird",
        levels=("genus", "species"),
        categories=cats,
        samples=tuple(samples),
        attribute_groups=(
            AttributeGroup("colour", ("red", "green", "blue", "grey"), "colour"),
            AttributeGroup("brightness", ("light", "dark"), "other"),
        ),
    )


def _q(sample: Sample, n: int, qtype: str, task: str, facet: str, **kw) -> Question:
    return Question(
        id=f"q{n}",
        dataset="toybirds",
        image=sample.path,
        prompt="?",
        qtype=qtype,
        task=task,
        facet=facet,
        category=sample.category_name,
        truth=DECOY,
        template_id="t",
        **kw,
    )


def _questions(ds: Dataset) -> tuple[list[Question], list[str]]:
    """Questions about the test images, and the answers a perfect probe gives."""
    qs, want = [], []
    for s in ds.split("test"):
        genus, _, colour, bright = SPECIES[s.category_name]
        other = next(n for n in NAMES if n != s.category_name)
        other_genus = "garrulus" if genus == "turdus" else "turdus"
        n = len(qs)
        items = [
            (_q(s, n, "tf", "granularity", "species", asked=s.category_name), "yes"),
            (_q(s, n + 1, "tf", "granularity", "species", asked=other), "no"),
            (_q(s, n + 2, "tf", "granularity", "genus", asked=genus), "yes"),
            (_q(s, n + 3, "tf", "granularity", "genus", asked=other_genus), "no"),
            (
                _q(
                    s,
                    n + 4,
                    "mc",
                    "granularity",
                    "species",
                    options=("never-seen-bird", other, s.category_name.upper(), "zzz"),
                ),
                s.category_name.upper(),
            ),
            (_q(s, n + 5, "sa", "granularity", "species"), s.category_name),
            (_q(s, n + 6, "tf", "knowledge_bias", "species", asked=s.category_name), "yes"),
            (_q(s, n + 7, "tf", "knowledge_bias", "species", asked=other), "no"),
            (_q(s, n + 8, "tf", "attribute", "colour", asked=colour), "yes"),
            (_q(s, n + 9, "tf", "attribute", "brightness", asked=bright), "yes"),
            (
                _q(
                    s,
                    n + 10,
                    "tf",
                    "attribute",
                    "brightness",
                    asked="dark" if bright == "light" else "light",
                ),
                "no",
            ),
            (
                _q(s, n + 11, "mc", "attribute", "colour", options=("purple", colour, "zzz")),
                colour,
            ),
        ]
        for q, a in items:
            qs.append(q)
            want.append(a)
    return qs, want


def _requests(ds: Dataset, questions: list[Question]) -> list[AnswerRequest]:
    by_path = {s.path: s for s in ds.samples}
    return [AnswerRequest(ds.open_image(by_path[q.image]), q.prompt, q) for q in questions]


def _probe(encoder, cache: Path) -> ProbeModel:
    return ProbeModel(
        encoder,
        ModelOptions(extra={"cache_dir": str(cache), "probe_l2": "1e-5"}),
        progress=io.StringIO(),
    )


def test_probe_over_separable_features_answers_perfectly(tmp_path):
    ds = _dataset(tmp_path / "data")
    enc = MeanColourEncoder()
    probe = _probe(enc, tmp_path / "cache")
    probe.prepare([ds])
    assert enc.images == len(ds.split("train"))
    questions, want = _questions(ds)
    before = enc.images
    answers = probe.answer(_requests(ds, questions), GenerationSettings())
    assert answers == want
    # 12 questions per test image, each image encoded once
    assert enc.images - before == len(ds.split("test"))
    # asked again: the in-memory feature cache answers, nothing is encoded
    assert probe.answer(_requests(ds, questions[:5]), GenerationSettings()) == want[:5]
    assert enc.images - before == len(ds.split("test"))


def test_probe_answers_do_not_depend_on_truth(tmp_path):
    ds = _dataset(tmp_path / "data")
    probe = _probe(MeanColourEncoder(), tmp_path / "cache")
    probe.prepare([ds])
    questions, _ = _questions(ds)
    import dataclasses

    first = probe.answer(_requests(ds, questions), GenerationSettings())
    other = [dataclasses.replace(q, truth="yes" if q.qtype == "tf" else "x") for q in questions]
    assert probe.answer(_requests(ds, other), GenerationSettings()) == first


def test_probe_cache_avoids_refitting_and_tracks_the_dataset(tmp_path):
    ds = _dataset(tmp_path / "data")
    cache = tmp_path / "cache"
    first = MeanColourEncoder()
    _probe(first, cache).prepare([ds])
    assert first.calls > 0
    again = MeanColourEncoder()
    probe = _probe(again, cache)
    fit_calls = []
    real_fit = probe_mod.fit_linear
    probe_mod.fit_linear = lambda *a, **k: fit_calls.append(1) or real_fit(*a, **k)
    try:
        probe.prepare([ds])
    finally:
        probe_mod.fit_linear = real_fit
    assert again.calls == 0 and fit_calls == []
    questions, want = _questions(ds)
    assert probe.answer(_requests(ds, questions), GenerationSettings()) == want
    # a changed dataset (one more train image) has another index_hash: encoded and fitted anew
    bigger = _dataset(tmp_path / "data2", per_class=5)
    third = MeanColourEncoder()
    _probe(third, cache).prepare([bigger])
    assert third.images == len(bigger.split("train"))


def test_probe_resumes_an_interrupted_encoding(tmp_path, monkeypatch):
    monkeypatch.setattr(probe_mod, "ENCODE_CHUNK", 4)
    ds = _dataset(tmp_path / "data", per_class=3)  # 12 train images, 3 chunks
    enc = MeanColourEncoder()
    enc.fail_after = 8
    with pytest.raises(RuntimeError, match="died"):
        _probe(enc, tmp_path / "cache").prepare([ds])
    resumed = MeanColourEncoder()
    _probe(resumed, tmp_path / "cache").prepare([ds])
    assert resumed.images == 4  # only the last chunk


def test_probe_errors_are_clear(tmp_path):
    ds = _dataset(tmp_path / "data")
    probe = _probe(MeanColourEncoder(), tmp_path / "cache")
    questions, _ = _questions(ds)
    with pytest.raises(ModelError, match="was not prepared"):
        probe.answer(_requests(ds, questions[:1]), GenerationSettings())
    probe.prepare([ds])
    import dataclasses

    bad = dataclasses.replace(questions[0], facet="family")
    with pytest.raises(ModelError, match="no taxonomy level 'family'"):
        probe.answer(_requests(ds, [bad]), GenerationSettings())
    no_train = dataclasses.replace(ds, name="testonly", samples=ds.split("test"))
    with pytest.raises(ModelError, match="no train split"):
        probe.prepare([no_train])

    with pytest.raises(ModelError, match="cannot encode"):  # a model that only answers
        ProbeModel(Evil())


def test_probe_fingerprint_extends_the_encoders(tmp_path):
    probe = _probe(MeanColourEncoder(), tmp_path)
    assert probe.fingerprint.startswith("probe:mean-colour-v1:" + probe_mod.HEAD_VERSION)
    other = ProbeModel(MeanColourEncoder(), ModelOptions(extra={"probe_l2": "0.1"}))
    assert other.fingerprint != probe.fingerprint


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), classes=st.integers(3, 5))
def test_fit_linear_softmax_matches_scikit_learn(seed, classes):
    # three or more classes: scikit-learn fits two classes as one sigmoid, not a softmax
    rs = np.random.RandomState(seed)
    n, d, l2 = 60, 5, 0.05
    x = rs.randn(n, d)
    y = np.arange(n) % classes
    x[np.arange(n), y] += 1.5  # informative but not separable
    w, b = fit_linear(torch.tensor(x), torch.tensor(y), multilabel=False, l2=l2, max_iter=200)
    ref = LogisticRegression(C=1.0 / (l2 * n), tol=1e-10, max_iter=5000).fit(x, y)
    ours = torch.softmax(torch.tensor(x, dtype=torch.float32) @ w + b, -1).numpy()
    assert np.allclose(ours, ref.predict_proba(x), atol=2e-3)


def test_fit_linear_multilabel_matches_one_vs_rest_scikit_learn():
    rs = np.random.RandomState(3)
    n, d, l2 = 80, 4, 0.02
    x = rs.randn(n, d)
    y = (x[:, :3] + 0.7 * rs.randn(n, 3) > 0).astype(np.float64)
    w, b = fit_linear(torch.tensor(x), torch.tensor(y), multilabel=True, l2=l2, max_iter=200)
    ours = torch.sigmoid(torch.tensor(x, dtype=torch.float32) @ w + b).numpy()
    for j in range(3):
        ref = LogisticRegression(C=1.0 / (l2 * n), tol=1e-10, max_iter=5000).fit(x, y[:, j])
        assert np.allclose(ours[:, j], ref.predict_proba(x)[:, 1], atol=2e-3)


def test_probe_spec_through_the_registry_with_a_timm_encoder(tmp_path):
    pytest.importorskip("timm")
    ds = _dataset(tmp_path / "data", per_class=2)
    opts = ModelOptions(
        device="cpu",
        image_size=32,
        extra={"random": "true", "cache_dir": str(tmp_path / "cache")},
    )
    probe = load_probe("timm:test_resnet", opts)
    assert "cache_dir" not in probe.encoder.options.extra
    probe._progress = io.StringIO()
    probe.prepare([ds])
    assert "probe: encoding toybirds train split 8/8" in probe._progress.getvalue()
    questions, _ = _questions(ds)
    answers = probe.answer(_requests(ds, questions), GenerationSettings())
    for q, a in zip(questions, answers, strict=True):
        assert a in (q.valid_answers or tuple(probe.heads("toybirds").levels["species"].names))


def test_probe_shares_the_runs_feature_store_with_the_machine_side(tmp_path):
    """Train features fitted by the probe are the entries the machine cases read back:
    the probe model's features fingerprint is its encoder's, so extracting through the
    probe model (as the machine session does) encodes nothing more."""
    from pytest_fgbmk.machine.feature_store import FeatureStore
    from pytest_fgbmk.machine.features import ExtractionStats, extract_features
    from pytest_fgbmk.progress import ProgressOutput

    ds = _dataset(tmp_path / "data")
    enc = MeanColourEncoder()
    probe = _probe(enc, tmp_path / "cache")
    store = FeatureStore(tmp_path / "run")
    lines: list[str] = []
    probe.use_feature_store(store)
    probe.use_progress(ProgressOutput(lines.append))
    probe.prepare([ds])
    n = len(ds.split("train"))
    assert enc.images == n
    assert probe.features_fingerprint == enc.fingerprint != probe.fingerprint
    stats = ExtractionStats()
    views = extract_features(probe, ds, "train", store, progress=None, stats=stats)
    assert enc.images == n and stats.computed_chunks == 0 and views["cls"].shape[0] == n
    assert any(s.startswith(f"probe: encoding toybirds train split {n}/{n}") for s in lines)
    assert any(s.startswith("probe: fitting toybirds heads") for s in lines)
