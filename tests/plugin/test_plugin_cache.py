"""The SQLite answer cache: keys, refusal of empty answers, several writer processes."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from pytest_fgbmk.cache import CACHE_FILE, AnswerCache, CacheKey, NullCache, prompt_hash
from pytest_fgbmk.errors import ConfigError

KEY = CacheKey("model-fp", "mnt=32;t=0.0;sys=")


def test_round_trip_and_key_parts(tmp_path):
    cache = AnswerCache(tmp_path)
    ph = prompt_hash("Is it a finch?")
    assert cache.put_many(KEY, [("q1", ph, "yes"), ("q2", ph, "no")]) == 2
    assert cache.get_many(KEY, [("q1", ph), ("q2", ph), ("q3", ph)]) == {"q1": "yes", "q2": "no"}
    assert cache.get_many(KEY, [("q1", prompt_hash("other prompt"))]) == {}
    assert cache.get_many(CacheKey("model-fp", "mnt=8;t=0.0;sys="), [("q1", ph)]) == {}
    assert cache.get_many(CacheKey("other-fp", KEY.settings_key), [("q1", ph)]) == {}
    assert cache.count(KEY) == 2 and cache.question_ids(KEY) == {"q1", "q2"}
    conn = sqlite3.connect(tmp_path / CACHE_FILE)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_empty_answers_are_never_stored(tmp_path):
    cache = AnswerCache(tmp_path)
    assert cache.put_many(KEY, [("q1", "h", ""), ("q2", "h", "   "), ("q3", "h", "B")]) == 1
    assert cache.question_ids(KEY) == {"q3"}


def test_many_lookups_span_chunks(tmp_path):
    cache = AnswerCache(tmp_path)
    rows = [(f"q{i}", "h", f"a{i}") for i in range(1234)]
    cache.put_many(KEY, rows)
    found = cache.get_many(KEY, [(f"q{i}", "h") for i in range(1300)])
    assert found == {f"q{i}": f"a{i}" for i in range(1234)}


def test_a_corrupt_cache_file_names_the_file(tmp_path):
    (tmp_path / CACHE_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(
        ConfigError,
        match=r"answers\.sqlite3 is damaged \(file is not a database\), so it is not a usable "
        r"answer cache; delete the file \(the answers are asked again on the next run\) or "
        r"pass --fgbmk-no-cache$",
    ):
        AnswerCache(tmp_path)


def test_null_cache_stores_nothing():
    c = NullCache()
    assert c.put_many(KEY, [("q", "h", "yes")]) == 0 and c.get_many(KEY, [("q", "h")]) == {}


def _writer(directory: str, worker: int, n: int) -> None:
    cache = AnswerCache(directory)
    for i in range(0, n, 10):
        cache.put_many(KEY, [(f"w{worker}-{j}", "h", f"answer {j}") for j in range(i, i + 10)])
    cache.close()


def test_several_processes_write_the_same_file_safely(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 300)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = AnswerCache(tmp_path)
    assert cache.count(KEY) == 900
    assert cache.get_many(KEY, [("w2-299", "h")]) == {"w2-299": "answer 299"}


def test_get_many_finds_each_stored_answer_in_the_order_asked(tmp_path):
    import random

    from pytest_fgbmk.cache import AnswerCache, CacheKey

    cache = AnswerCache(tmp_path)
    key = CacheKey("m", "s")
    rows = [(f"{i:04x}", f"h{i}", f"answer {i}") for i in range(1500)]
    cache.put_many(key, rows)
    asked = [(q, h) for q, h, _ in rows if q != "0001"] + [("zzzz", "h"), ("0001", "stale")]
    random.Random(0).shuffle(asked)
    found = cache.get_many(key, asked)
    want = [q for q, h in asked if q != "zzzz" and h != "stale"]
    assert list(found) == want  # every chunk of 500, in the order asked
    assert all(found[q] == f"answer {int(q, 16)}" for q in want)
    cache.close()
