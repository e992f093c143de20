"""Rule versions in baselines: a change of this tool that moves a case's numbers asks for a
re-baseline, and each rule's output is pinned under its current version.

When a pin below fails, the rule's output changed: bump its version in
``pytest_fgbmk/rule_versions.py`` (a baseline of the old version then asks to be
rewritten), pin the new output under the new version, and regenerate the committed demo
baselines in the same commit.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_fgbmk import rule_versions
from pytest_fgbmk.baselines.gate import BaselineGate, Entry
from pytest_fgbmk.baselines.record import build_record, dump_record
from pytest_fgbmk.data.images import EXIF_MODES, load_rgb
from pytest_fgbmk.measurement import Asked, Measurement, Outcome
from pytest_fgbmk.questions.cases import build_questions, cases_for
from pytest_fgbmk.questions.subsample import stratified
from pytest_fgbmk.scoring import score

sys.path.insert(0, str(Path(__file__).parent / "questions"))
from questions_replicas import cub_like, many_classes  # noqa: E402

RULES = rule_versions.rules("questions", "scoring", "images")
ASKED = Asked("toy", "abc", "original", "strict", None, 0, rules=RULES, content="c1")
PATH = Path("baselines/m/test_x/test_x[toy-a-tf].json")


def _measure(asked: Asked = ASKED, correct=(True, False, True, True)) -> Measurement:
    outcomes = tuple(
        Outcome(f"q{i}", c, "yes" if c else "no", "tf", f"Is it {i}?", "c")
        for i, c in enumerate(correct)
    )
    value = 100 * sum(correct) / len(correct)
    return Measurement(
        "toy-a-tf", "toy", "attribute", "a", "tf", "accuracy", value, len(correct),
        value - 5, value + 5, 0.0, 0, outcomes, asked,
    )  # fmt: skip


def _verdict(stored_asked: Asked | None, now: Asked = ASKED, drop_rules: bool = False):
    record = build_record(_measure(stored_asked or ASKED))
    if drop_rules:
        del record["asked"]["rules"]
    gate = BaselineGate(update_command="pytest suites/ --fgbmk-update-baselines")
    return gate.verdict(Entry("toy-a-tf", _measure(now), PATH, dump_record(record)))


def test_rules_text_round_trips_and_names_what_changed():
    assert rule_versions.rules("questions", "scoring") == (
        f"questions={rule_versions.QUESTIONS};scoring={rule_versions.SCORING}"
    )
    assert rule_versions.parse("questions=2;scoring=1") == {"questions": "2", "scoring": "1"}
    assert rule_versions.parse("") == {}
    assert rule_versions.changed("questions=1;scoring=1", "questions=2;scoring=1") == [
        "question generation (which questions, their wording, options, truth positions) "
        "changed (version 1 → 2)"
    ]
    assert rule_versions.changed("scoring=1", "scoring=1;subset=2") == [
        "the --fgbmk-limit subset rule changed (version none → 2)"
    ]
    with pytest.raises(KeyError):
        rule_versions.rules("no-such-rule")


@pytest.mark.parametrize(
    ("rule", "what"),
    [
        ("questions", "question generation"),
        ("scoring", "answer scoring"),
        ("images", "image loading"),
        ("features", "encoder image preprocessing"),
        ("retrieval", "retrieval mAP and recall@k"),
    ],
)
def test_a_baseline_of_another_rule_version_asks_to_be_rewritten(rule, what):
    older = rule_versions.parse(RULES) | {rule: "0"}
    stored = replace(ASKED, rules=";".join(f"{k}={v}" for k, v in older.items()))
    v = _verdict(stored)
    assert not v.ok
    assert f"re-baseline: {what}" in v.message and "(version 0 → " in v.message
    assert v.message.endswith("rewrite it with the command in the FG-BMK summary")
    assert dict(v.properties)["rebaseline"].startswith(what)


def test_a_baseline_from_before_rule_versions_asks_to_be_rewritten():
    v = _verdict(None, drop_rules=True)
    assert not v.ok and "re-baseline: written by pytest-fgbmk" in v.message
    assert "before the rules that decide a case's numbers were recorded" in v.message


def test_same_ids_with_other_text_asks_to_be_rewritten():
    v = _verdict(replace(ASKED, content="c0"))
    assert not v.ok and "the same questions now read differently" in v.message


def test_a_changed_setting_is_named_before_the_rules():
    """A new --fgbmk-limit also adds the subset rule: the user's setting is what is named."""
    now = replace(ASKED, limit=2, rules=rule_versions.rules("questions", "subset", "scoring"))
    v = _verdict(None, now)
    assert not v.ok and "fingerprint differs" in v.message and "limit: none → 2" in v.message


def test_the_same_rules_and_text_compare():
    v = _verdict(None)
    assert v.ok, v.message


# -- each rule's output, pinned under its version ---------------------------------------------

#: sha256 of the verdicts of both scoring modes on the canary answers, by SCORING version
#: and the QUESTIONS version of the questions they score (generated from the replicas).
SCORING_PINS = {
    "1": "56f8ff5ecb8f0db8d8c8d8c55a879410f64facda8e00f023ba7f1bcc8095dc06",
    "2 (questions 3)": "e34d09d9459ad799ce91b9ed8723305de9cc90fa2e8d50d7a6665dd72f178361",
    # version 3 reads the canaries as version 2 did; its kinds are held by test_scoring_more_kinds
    "3 (questions 4)": "d7a5f380df0b6dfc153af2480eb09b8e11da13e4d6aefa256ed90e149c5cdd61",
    # version 4 too; its kinds are held by test_scoring_fifth_kinds
    "4 (questions 4)": "d7a5f380df0b6dfc153af2480eb09b8e11da13e4d6aefa256ed90e149c5cdd61",
}
#: sha256 of the subsets of every case of two replicas at several limits, by SUBSET version
#: and the QUESTIONS version of the questions subset.
SUBSET_PINS = {
    "2 (questions 3)": "b1371ba0a80701bd6a58fc3aed7236c68e660c5bacacb01b9ed2a068df6f5294",
    "2 (questions 4)": "927a57441231375fd49b2345ebf0815277900877c18bf07c453b3f8cab4f2f97",
}
#: A pin of a rule applied to generated questions: its version with the questions' version.
ON_QUESTIONS = f" (questions {rule_versions.QUESTIONS})"
#: sha256 of the RGB pixels of images in every mode Pillow reads losslessly, and of one
#: with an EXIF orientation tag, under both EXIF modes, by IMAGES version (version 1 had
#: no EXIF handling: its pin covers the modes only).
IMAGE_PINS = {
    "1": "5b3bce4b212c98f1284a39f495613919512f3a6d21bbcd0b198a27c24a7dbe56",
    "2": "9ddf4881bfd14b4a2ceff84d2391ef754b0cad24552db616b68adc9c0a3078ec",
}
#: The EXIF tag of the orientation.
ORIENTATION = 0x0112


def _canary_answers(q) -> list[str]:
    out = ["", "yes", "No.", "A", "B.", "(C)", "The answer is D.", q.truth, f"not {q.truth}"]
    out += [f"I think it is {q.truth}.", f"<think>maybe {q.truth}</think> no", "Yes, it is."]
    out += [q.truth.upper(), f"{q.truth}!", "none of the above"]
    out += list(q.options[:2]) + [" or ".join(q.options[:2])]
    return out


def _digest(lines) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(repr(line).encode() + b"\n")
    return h.hexdigest()


def test_scoring_output_is_pinned_under_its_version():
    ds = cub_like()
    lines = []
    for case in cases_for(ds):
        for q in build_questions(ds, case)[:3]:
            for text in _canary_answers(q):
                for mode in ("strict", "official"):
                    s = score(q, text, mode)
                    lines.append((q.truth, q.options, text, mode, s.correct, s.parsed, s.how))
    _check_pin("SCORING", rule_versions.SCORING + ON_QUESTIONS, SCORING_PINS, _digest(lines))


def test_subset_output_is_pinned_under_its_version():
    lines = []
    for ds in (cub_like(), many_classes(60)):
        for case in cases_for(ds):
            qs = build_questions(ds, case)
            for n in (1, 5, 12, 40):
                lines.append((case.id, n, sorted(q.id for q in stratified(qs, n, 7))))
    _check_pin("SUBSET", rule_versions.SUBSET + ON_QUESTIONS, SUBSET_PINS, _digest(lines))


def test_image_loading_is_pinned_under_its_version(tmp_path):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(9, 7, 4), dtype=np.uint8)
    rgb = Image.fromarray(rgba[..., :3].copy())
    alpha = Image.fromarray(rgba[..., 3].copy())
    la = Image.fromarray(rgba[..., 0].copy()).convert("LA")
    la.putalpha(alpha)
    images = {
        "rgb.png": rgb,
        "rgba.png": Image.fromarray(rgba),
        "l.png": Image.fromarray(rgba[..., 0].copy()),
        "la.png": la,
        "p.png": rgb.quantize(7),
        "i16.png": Image.fromarray(rgba[..., 0].astype(np.uint16) * 257),
        "cmyk.tif": rgb.convert("CMYK"),
        "f.tif": Image.fromarray(rgba[..., 1].astype(np.float32) / 7),
        "orientation-6.png": rgb,  # stored 7×9 with an EXIF orientation tag 6 (version 2)
    }
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    lines = []
    for name, img in images.items():
        img.save(tmp_path / name, **({"exif": exif} if name.startswith("orientation") else {}))
        assert Image.open(tmp_path / name).mode == img.mode  # every mode, as saved
        for mode in EXIF_MODES:
            arr = np.asarray(load_rgb(tmp_path / name, exif_orientation=mode))
            digest = hashlib.sha256(arr.tobytes()).hexdigest()
            lines.append((name, mode, arr.shape, arr.dtype.str, digest))
    turned = {mode: shape for name, mode, shape, _, _ in lines if name.startswith("orientation")}
    assert turned == {"apply": (7, 9, 3), "ignore": (9, 7, 3)}  # stored 9 high, 7 wide
    _check_pin("IMAGES", rule_versions.IMAGES, IMAGE_PINS, _digest(lines))


def _check_pin(name: str, version: str, pins: dict[str, str], digest: str) -> None:
    assert version in pins, (
        f"rule_versions.{name} is {version!r} but no output is pinned for it; "
        f"pin {digest!r} under {version!r}"
    )
    assert pins[version] == digest, (
        f"the output of rule_versions.{name} (version {version}) changed: bump "
        f"rule_versions.{name}, pin {digest!r} under the new version and regenerate the "
        "committed baselines"
    )


#: The probe's default grid and the head it selects on a fixed problem, by PROBE version.
PROBE_PINS = {
    "1": "4e32b5b7fdd57c30c9ea02e5e4687fb811cb1b54bda35cd2dd27fe50fab0416d",
    "2": "8458f95c5e471dae9990fc8523ebd47514a24a49416b5064dc62794d3ca00164",
}


def test_probe_grid_and_head_selection_are_pinned_under_its_version():
    import torch

    from pytest_fgbmk.machine.probe import ProbeSettings, train_probe

    rng = np.random.default_rng(3)
    centers = rng.normal(size=(6, 8)) * 0.8
    ytr, yte = np.repeat(np.arange(6), 30), np.repeat(np.arange(6), 10)
    views = {}
    for name, scale in (("cls", 1.0), ("patch", 2.0)):
        xtr = centers[ytr] + scale * rng.normal(size=(len(ytr), 8))
        xte = centers[yte] + scale * rng.normal(size=(len(yte), 8))
        views[name] = (
            torch.tensor(xtr, dtype=torch.float32),
            torch.tensor(xte, dtype=torch.float32),
        )
    res = train_probe(
        {k: v[0] for k, v in views.items()}, ytr, {k: v[1] for k, v in views.items()}, yte
    )
    chosen = (ProbeSettings().key(), res.head.view, res.head.lr, res.head.weight_decay)
    lines = [chosen, res.n_fit, res.n_val, res.predictions.tolist()]
    _check_pin("PROBE", rule_versions.PROBE, PROBE_PINS, _digest(lines))


#: The feature-space attack's per-sample outcomes on a fixed problem, by ROBUSTNESS version.
ROBUSTNESS_PINS = {"2": "f91422b4439011886d8f29710ec069aaabd2cd14dd893cd50117a6a6c1416fbf"}


def test_robustness_attack_is_pinned_under_its_version():
    import torch

    from pytest_fgbmk.machine.linear_head import LinearHead
    from pytest_fgbmk.machine.robustness import feature_robustness

    g = torch.Generator().manual_seed(5)
    d, c = 12, 6
    head = LinearHead(
        torch.randn(d, c, generator=g), torch.randn(c, generator=g), False,
        torch.randn(d, generator=g), torch.rand(d, generator=g) + 0.5,
    )  # fmt: skip
    x = torch.randn(90, d, generator=g) * 2
    y = (torch.arange(90) % c).numpy()
    lines = []
    for norm in ("linf", "l2"):
        res = feature_robustness(head, x, y, eps_rel=(0.0, 0.02, 0.1), norm=norm)
        for e in res.eps_rel:
            lines.append((norm, e, res.correct[e].tolist(), f"{res.max_perturbation[e]:.6e}"))
    _check_pin("ROBUSTNESS", rule_versions.ROBUSTNESS, ROBUSTNESS_PINS, _digest(lines))


def test_a_robustness_baseline_from_before_the_attack_was_versioned_asks_to_be_rewritten():
    """Robustness baselines recorded images and probe only; the case now records the attack."""
    from pytest_fgbmk.tasks.machine import MachineTask

    class _Ds:
        name, index_hash, exif_orientation = "toy", "abc", "apply"

    class _Ctx:
        options = type("O", (), {"seed": 0})()

        def dataset(self, name):
            return _Ds()

        def model_settings(self, *, answers):
            return "dtype=auto;image_size=none"

    now = MachineTask.asked(_Ctx(), type("C", (), {"dataset": "toy"})(), "pgd:linf;eps=0.01")
    assert rule_versions.parse(now.rules)["robustness"] == rule_versions.ROBUSTNESS
    other = MachineTask.asked(_Ctx(), type("C", (), {"dataset": "toy"})(), "probe:x")
    assert "robustness" not in rule_versions.parse(other.rules)
    retrieval = MachineTask.asked(_Ctx(), type("C", (), {"dataset": "toy"})(), "retrieval:cls")
    assert rule_versions.parse(retrieval.rules) == {
        "images": rule_versions.IMAGES,
        "features": rule_versions.FEATURES,
        "retrieval": rule_versions.RETRIEVAL,
    }  # every machine case rests on the encoder's preprocessing; retrieval on its figures
    old = replace(now, rules=rule_versions.rules("images", "features", "probe"))
    v = _verdict(old, now)
    assert not v.ok
    assert "re-baseline: the feature-space PGD attack changed (version none → " in v.message


#: An encoder's preprocessed pixels of fixed images under every crop, offset and
#: interpolation, by FEATURES version.
FEATURES_PINS = {"1": "636ef5ac94c63206dd670b8c81c65873b915d8b388b5f921a2783e183c843c87"}


def test_encoder_preprocessing_is_pinned_under_its_version():
    from pytest_fgbmk.models.encoders import ImageTransform

    rng = np.random.default_rng(5)
    images = [
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8))
        for shape in ((37, 53, 3), (61, 29, 3), (32, 32, 3))
    ]
    lines = []
    for crop in ("center", "squash"):
        for offset in ("round", "floor"):
            for interpolation in ("bicubic", "bilinear"):
                t = ImageTransform(
                    24,
                    27,
                    (0.485, 0.456, 0.406),
                    (0.229, 0.224, 0.225),
                    interpolation,
                    crop,
                    offset,
                )
                for img in images:
                    x = t(img).numpy()
                    lines.append((crop, offset, interpolation, x.shape, np.round(x, 4).tolist()))
    _check_pin("FEATURES", rule_versions.FEATURES, FEATURES_PINS, _digest(lines))


#: Retrieval's per-query AP and recall@k on fixed features with tied similarities, by
#: RETRIEVAL version.
RETRIEVAL_PINS = {"1": "fbf826d9b393ff15389ba27d105c5838c67936df10fce3e05505acda8fbc4a0c"}


def test_retrieval_figures_are_pinned_under_its_version():
    from pytest_fgbmk.machine.retrieval import retrieval_metrics

    rng = np.random.default_rng(9)
    gallery = rng.normal(size=(40, 6)).astype(np.float32)
    gallery[10:14] = gallery[9]  # ties in similarity across classes
    gl = np.arange(40) % 5
    query = np.concatenate([gallery[:8] + 0.3 * rng.normal(size=(8, 6)), gallery[9:11]])
    ql = np.array([*(np.arange(8) % 5), 0, 4])
    res = retrieval_metrics(query.astype(np.float32), ql, gallery, gl, ks=(1, 5))
    lines = [np.round(res.ap, 6).tolist(), res.without_positive]
    lines += [(k, res.hits[k].tolist(), round(res.recall(k), 6)) for k in (1, 5)]
    lines.append(round(res.mean_ap, 6))
    _check_pin("RETRIEVAL", rule_versions.RETRIEVAL, RETRIEVAL_PINS, _digest(lines))
