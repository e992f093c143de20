"""pytest_fgbmk.hashing: every stored id, seed and key is pinned to the value it had before
the hashing helpers were gathered into one module (computed with the previous code)."""

from __future__ import annotations

from pytest_fgbmk.cache import _key, prompt_hash
from pytest_fgbmk.data.generic import hash_split
from pytest_fgbmk.data.synth import SynthConfig
from pytest_fgbmk.hashing import (
    SEP,
    derive_seed,
    sha256_hex,
    sha256_int,
    stable_hash,
    stable_seed,
)
from pytest_fgbmk.machine.feature_store import FeatureKey
from pytest_fgbmk.questions.ids import question_id


def test_blake2b_ids_and_seeds_are_pinned():
    assert stable_hash("cub", "x", 3) == "4086a2ad0cf49360"
    assert derive_seed("cub", "granularity", "test", 0) == 977865016258112913
    qid = question_id("cub", "a/b.jpg", "granularity", "genus", "tf", "Larus", "Sterna", "t1")
    assert qid == "7a8a86b55fac5f46"


def test_sha256_seeds_and_keys_are_pinned():
    assert stable_seed("cub", "retrieval") == 3296314809
    assert prompt_hash("Is this a gull?") == "0c2fa08e564b0a45"
    assert _key("k") == "8254c329a92850f6d539dd376f4816ee"
    assert FeatureKey("m", "h", "train", "p").digest() == "da9bb02e732a31f48495e48c"
    splits = [hash_split(f"img{i}", 3) for i in range(8)]
    assert splits == ["train", "train", "test", "train", "train", "train", "train", "train"]
    assert SynthConfig().key() == "s24-i30-128px-seed0-fa045f87c11a"


def test_helpers_agree_with_their_definitions():
    import hashlib

    assert sha256_hex("abc") == hashlib.sha256(b"abc").hexdigest()
    assert sha256_hex("abc", 10) == hashlib.sha256(b"abc").hexdigest()[:10]
    assert sha256_int("abc", 4) == int.from_bytes(hashlib.sha256(b"abc").digest()[:4], "big")
    assert stable_seed("a", 1) == sha256_int("a\x001", 4)
    assert SEP == "\x1f"


def test_generators_inline_the_same_question_id():
    """questions/generate.py inlines question_id on its hot path; both must agree."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "questions"))
    from questions_replicas import cub_like

    from pytest_fgbmk.questions.cases import build_questions, cases_for

    ds = cub_like()
    seen = 0
    for case in cases_for(ds)[:6]:
        for q in build_questions(ds, case, limit=20):
            expected = question_id(
                q.dataset, q.image, q.task, q.facet, q.qtype, q.truth, q.asked, q.template_id
            )
            assert q.id == expected
            seen += 1
    assert seen > 20
