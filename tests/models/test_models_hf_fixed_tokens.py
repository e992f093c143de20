"""``fixed_new_tokens``: answers of an exact length per question type (``hf:`` adapter)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.models import hf, tiny
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.questions.records import Question

CPU = {"device": "cpu", "dtype": "fp32"}
SETTINGS = GenerationSettings(max_new_tokens=3)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("8", {"tf": 8, "mc": 8, "sa": 8}),
        (" 2 ", {"tf": 2, "mc": 2, "sa": 2}),
        ("tf:1,mc:1,sa:8", {"tf": 1, "mc": 1, "sa": 8}),
        ("sa:8, tf:1 ,mc:2", {"tf": 1, "mc": 2, "sa": 8}),
        ("4096", {"tf": 4096, "mc": 4096, "sa": 4096}),
    ],
)
def test_values_are_parsed(raw, expected):
    assert hf.parse_fixed_new_tokens(raw) == expected


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("0", "counts go from 1 to 4096, got 0"),
        ("4097", "counts go from 1 to 4096, got 4097"),
        ("eight", "'eight' is not a whole number"),
        ("tf:1,mc:1", "leaves out sa"),
        ("tf:1,mc:1,sa:8,tf:2", "names tf twice"),
        ("tf:1,mc:1,xx:8", "'xx:8' does not name a question type"),
        ("tf:1,mc:1,sa:-1", "counts go from 1 to 4096, got -1"),
        ("tf:1,mc:1,sa:", "'' is not a whole number"),
    ],
)
def test_bad_values_are_one_line_naming_the_arg(raw, match):
    with pytest.raises(ConfigError, match=match) as info:
        hf.parse_fixed_new_tokens(raw)
    assert str(info.value).startswith("model arg fixed_new_tokens=")
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny.build_tiny("llava", tmp_path_factory.mktemp("ckpt") / "llava")


def test_a_bad_value_is_refused_before_loading(checkpoint, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(hf.HfVisionLanguageModel, "__init__", never)
    with pytest.raises(ConfigError, match="fixed_new_tokens='tf:1'"):
        hf.load_hf(str(checkpoint), ModelOptions(**CPU, extra={"fixed_new_tokens": "tf:1"}))


def _question(i: int, qtype: str) -> Question:
    return Question(
        id=f"q{i}", dataset="d", image=f"{i}.jpg", prompt="p", qtype=qtype, task="t",
        facet="f", category="c", truth="yes", template_id="t",
    )  # fmt: skip


def _requests(qtypes: str) -> list[AnswerRequest]:
    out = []
    for i, qtype in enumerate(qtypes.split(",")):
        img = Image.new("RGB", (40 + 9 * i, 30 + 7 * i), (50 * i % 256, 90, 200 - 20 * i))
        prompt = "Is this a photo of a bird? " * (1 + i % 3)
        out.append(AnswerRequest(img, prompt, _question(i, qtype)))
    return out


def _spy(model, monkeypatch) -> tuple[list, list]:
    """Record each generate call's keyword arguments and each decoded row's length."""
    calls, rows = [], []
    real_generate, tok = model.model.generate, model.processor.tokenizer
    real_decode = tok.batch_decode

    def generate(**kwargs):
        calls.append({k: kwargs.get(k) for k in ("max_new_tokens", "min_new_tokens")})
        return real_generate(**kwargs)

    def decode(ids, **kwargs):
        rows.extend(len(r) for r in ids)
        return real_decode(ids, **kwargs)

    monkeypatch.setattr(model.model, "generate", generate)
    monkeypatch.setattr(tok, "batch_decode", decode)
    return calls, rows


def test_each_answer_has_its_types_length(checkpoint, monkeypatch):
    opts = ModelOptions(**CPU, batch_size=3, extra={"fixed_new_tokens": "tf:1,mc:2,sa:8"})
    model = hf.load_hf(str(checkpoint), opts)
    try:
        calls, rows = _spy(model, monkeypatch)
        answers = model.answer(_requests("tf,sa,mc,tf,mc"), SETTINGS)  # batches of 3 and 2
        assert len(answers) == 5
        # each batch runs exactly as long as its longest answer, whatever max_new_tokens says
        assert calls == [
            {"max_new_tokens": 8, "min_new_tokens": 8},
            {"max_new_tokens": 2, "min_new_tokens": 2},
        ]
        assert rows == [1, 8, 2, 1, 2]
    finally:
        model.close()


def test_a_cut_answer_equals_the_answer_generated_alone_at_that_length(checkpoint):
    mixed = hf.load_hf(
        str(checkpoint),
        ModelOptions(**CPU, batch_size=4, extra={"fixed_new_tokens": "tf:1,mc:1,sa:6"}),
    )
    try:
        reqs = _requests("tf,sa,mc,sa")
        together = mixed.answer(reqs, SETTINGS)
        mixed.batch_size = 1
        alone = mixed.answer(reqs, SETTINGS)
    finally:
        mixed.close()
    short = hf.load_hf(str(checkpoint), ModelOptions(**CPU, extra={"fixed_new_tokens": "1"}))
    try:
        one_token = short.answer(reqs, SETTINGS)
    finally:
        short.close()
    assert together == alone
    assert [together[0], together[2]] == [one_token[0], one_token[2]]
    assert all(together), "forced answers are never empty"


def test_without_the_arg_max_new_tokens_applies_and_ends_are_not_forced(checkpoint, monkeypatch):
    model = hf.load_hf(str(checkpoint), ModelOptions(**CPU, batch_size=4))
    try:
        calls, _ = _spy(model, monkeypatch)
        model.answer(_requests("tf,sa"), SETTINGS)
        assert calls == [{"max_new_tokens": 3, "min_new_tokens": None}]
    finally:
        model.close()


def test_requests_without_a_question_get_the_longest_count_and_fingerprints_differ(
    checkpoint, monkeypatch
):
    forced = hf.load_hf(
        str(checkpoint), ModelOptions(**CPU, extra={"fixed_new_tokens": "tf:1,mc:1,sa:4"})
    )
    plain = hf.load_hf(str(checkpoint), ModelOptions(**CPU))
    try:
        _, rows = _spy(forced, monkeypatch)
        forced.answer([AnswerRequest(Image.new("RGB", (32, 32)), "What is it?")], SETTINGS)
        assert rows == [4]
        assert forced.fingerprint != plain.fingerprint
    finally:
        forced.close()
        plain.close()
