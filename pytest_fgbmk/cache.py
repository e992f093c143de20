"""The on-disk answer store: SQLite in WAL mode, safe for several processes at once.

An answer is keyed by (model fingerprint, question id, generation settings, prompt hash,
our cache version). Only successful, non-empty answers are stored; errors never are.
Writes are small transactions committed as batches finish, so a killed run (SIGKILL
included) loses at most the batch that was in flight (batches a model answers in under
50 ms are committed together, at least every 2 seconds: :class:`pytest_fgbmk.engine.CommitPolicy`). A damaged file (empty, not SQLite,
or with damaged pages) stops the run with one message saying how to recover
(:mod:`pytest_fgbmk.sqlite_files`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.hashing import sha256_hex
from pytest_fgbmk.sqlite_files import Store

#: Bumped when what an answer means changes (prompt building, decoding); old rows are ignored.
CACHE_VERSION = "answers-1"
CACHE_FILE = "answers.sqlite3"
_CHUNK = 500
#: The answer cache connection's page cache (KiB; SQLite's default is 2,000). A free model's
#: answers are committed 32,768 at a time (:class:`pytest_fgbmk.engine.CommitPolicy`) at
#: random keys: the pages they touch stay in memory until the commit writes them once.
PAGE_CACHE_KIB = 65536

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    model TEXT NOT NULL,
    qid TEXT NOT NULL,
    settings TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    version TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (model, qid, settings, prompt_hash, version)
) WITHOUT ROWID
"""


def prompt_hash(prompt: str) -> str:
    """A short stable hash of a prompt's text (a changed template never hits a stale row)."""
    return sha256_hex(prompt, 16)


def _key(text: str) -> str:
    return sha256_hex(text, 32)


@dataclass(frozen=True)
class CacheKey:
    """What an answer depends on besides the question: the model and its settings."""

    model_fingerprint: str
    settings_key: str


class AnswerCache:
    """Answers stored in ``DIR/answers.sqlite3``; one connection per process."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"--fgbmk-cache: cannot create the cache folder {self.directory}: {exc}; "
                "choose a writable folder or pass --fgbmk-no-cache"
            ) from None
        self.path = self.directory / CACHE_FILE
        try:
            self._store = Store(
                self.path, _SCHEMA, what="answer cache", rebuilt="the answers are asked again"
            )
        except OSError as exc:
            raise ConfigError(
                f"--fgbmk-cache: cannot open the answer cache {self.path}: {exc}; "
                "choose a writable folder or pass --fgbmk-no-cache"
            ) from None
        self._conn = self._store.conn
        self._conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")

    def get_many(self, key: CacheKey, items: Sequence[tuple[str, str]]) -> dict[str, str]:
        """Stored answers for ``(question id, prompt hash)`` pairs, by question id (in the
        order of ``items``).

        The ids are looked up in sorted order, so that consecutive lookups read neighbouring
        pages of the table (its key starts with the id): finding 3,542,432 answers in a 508 MB
        cache (``bench_full_scale --scale 1.0``'s) took 28.0 CPU-s asked in random order
        with SQLite's default page cache, 22.2 sorted with :data:`PAGE_CACHE_KIB` (load 4)."""
        model, settings = _key(key.model_fingerprint), _key(key.settings_key)
        wanted = dict(items)
        found: dict[str, str] = {}
        qids = sorted(wanted)
        for start in range(0, len(qids), _CHUNK):
            chunk = qids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._store.guarded(
                lambda chunk=chunk, marks=marks: self._conn.execute(
                    "SELECT qid, prompt_hash, answer FROM answers WHERE model=? AND settings=? "
                    f"AND version=? AND qid IN ({marks})",
                    (model, settings, CACHE_VERSION, *chunk),
                ).fetchall()
            )
            for qid, ph, answer in rows:
                if wanted.get(qid) == ph and answer:
                    found[qid] = answer
        return {qid: found[qid] for qid in wanted if qid in found}

    def put_many(self, key: CacheKey, answers: Iterable[tuple[str, str, str]]) -> int:
        """Store ``(question id, prompt hash, answer)`` rows in one transaction.

        Empty answers are refused (they are never a success). Returns the rows written.
        """
        model, settings = _key(key.model_fingerprint), _key(key.settings_key)
        now = time.time()
        rows = [
            (model, qid, settings, ph, CACHE_VERSION, text, now)
            for qid, ph, text in answers
            if isinstance(text, str) and text.strip()
        ]
        if not rows:
            return 0

        def write() -> None:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

        self._store.guarded(write)
        return len(rows)

    def count(self, key: CacheKey | None = None) -> int:
        """How many answers are stored (for one model and settings, or in all)."""
        if key is None:
            return self._store.guarded(
                lambda: self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            )
        return self._store.guarded(
            lambda: self._conn.execute(
                "SELECT COUNT(*) FROM answers WHERE model=? AND settings=? AND version=?",
                (_key(key.model_fingerprint), _key(key.settings_key), CACHE_VERSION),
            ).fetchone()[0]
        )

    def question_ids(self, key: CacheKey) -> set[str]:
        """The question ids stored for one model and settings."""
        rows = self._store.guarded(
            lambda: self._conn.execute(
                "SELECT qid FROM answers WHERE model=? AND settings=? AND version=?",
                (_key(key.model_fingerprint), _key(key.settings_key), CACHE_VERSION),
            ).fetchall()
        )
        return {r[0] for r in rows}

    def close(self) -> None:
        self._conn.close()


class NullCache:
    """The cache used with ``--fgbmk-no-cache``: stores nothing, finds nothing."""

    path = None

    def get_many(self, key: CacheKey, items: Sequence[tuple[str, str]]) -> dict[str, str]:
        return {}

    def put_many(self, key: CacheKey, answers: Iterable[tuple[str, str, str]]) -> int:
        return 0

    def count(self, key: CacheKey | None = None) -> int:
        return 0

    def question_ids(self, key: CacheKey) -> set[str]:
        return set()

    def close(self) -> None:
        return None


def open_cache(directory: Path | str | None) -> AnswerCache | NullCache:
    """The answer cache in ``directory``, or a :class:`NullCache` when it is ``None``."""
    return NullCache() if directory is None else AnswerCache(directory)
