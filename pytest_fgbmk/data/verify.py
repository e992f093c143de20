"""The run's image check: every image a selected case needs is readable before any scoring.

One rule for every task, human and machine: before a single answer is scored or feature
extracted, the run checks each image its selected cases read (:func:`verify_images`). A
broken image is a data error naming the file (:func:`broken_images_error`), never a wrong
answer of the model. What is refused, and how it is found:

============  ================================================================
kind          found by
============  ================================================================
outside root  the real path (symlinks resolved) is not inside the dataset's root; the
              message names the symlinked folder inside the dataset leading there
missing       no file there (also a symlink whose target is gone)
unreadable    the OS refuses it (permissions), or it is not a regular file
empty         0 bytes
oversize      width × height beyond :func:`~pytest_fgbmk.data.images.pixel_limit`
              (the decompression-bomb limit :func:`~pytest_fgbmk.data.images.load_rgb`
              refuses too), read from the header without decoding
not an image  Pillow does not recognise the format (random bytes, a text file)
truncated     the data stops early
corrupt       Pillow reads the header but the data is broken (bad checksum, broken
              stream, or any other decoder error)
============  ================================================================

Each file is opened twice, as Pillow's documentation advises (``verify()`` leaves the
image unusable): ``Image.open`` + ``verify()``, then ``Image.open`` + ``load()``, because
neither finds everything alone (measured with Pillow 13, ``tests/data/test_data_verify.py``):
a JPEG cut short passes ``verify()`` (which reads no scan data) and fails ``load()``; a PNG
that lost its last bytes of image data and its ``IEND`` chunk passes ``load()`` and fails
``verify()``; a flipped byte in PNG data fails both, one in JPEG scan data neither (JPEG
has no checksum: such damage cannot be found short of looking at the pixels). JPEGs are
loaded in draft mode (``Image.draft``: decoded at 1/8 scale): every entropy-coded byte is
still read, so a cut or a broken stream is found, at a fraction of the full decode's cost
(``benchmarks/bench_verify.py``).

A warm rerun need not reopen anything: :class:`VerifiedRecord` remembers each file that
passed, keyed by its real path, size, modification time, status-change time (ns) and inode,
in SQLite under the cache folder (safe for several processes at once); a file any of whose
key changed is checked again. Size and mtime alone miss a file replaced by a broken one of
the same size whose mtime was kept (``cp -p``, ``rsync -t``, ``touch -r``, an archive
extracted with its times): writing or renaming a file always sets its ctime (no call sets
it back) and a replacement by rename has another inode. Problems are never recorded: a
broken file is checked on every run, and passes (and is recorded) once it is fixed.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

from pytest_fgbmk.data.images import pixel_limit
from pytest_fgbmk.errors import ConfigError, DataError
from pytest_fgbmk.progress import Progress, ProgressOutput
from pytest_fgbmk.sqlite_files import Store

T = TypeVar("T")
R = TypeVar("R")

#: Bumped when the check changes what it refuses: records of the older check are ignored.
VERIFY_VERSION = "verify-2"
RECORD_FILE = "images-verified.sqlite3"
#: Threads that check files: decoding releases the GIL (``benchmarks/bench_verify.py``).
WORKERS = max(1, min(16, os.cpu_count() or 1))
#: Files handed to the threads at once (also how often the record is written).
BLOCK = 512
#: Files one thread task handles (within a block).
PER_TASK = 16

OUTSIDE = "outside the dataset root"
MISSING = "missing"
UNREADABLE = "unreadable"
EMPTY = "empty (0 bytes)"
OVERSIZE = "oversize"
NOT_AN_IMAGE = "not an image"
TRUNCATED = "truncated"
CORRUPT = "corrupt"

#: A file's identity for the record: (real path, size in bytes, mtime in ns, ctime in ns,
#: inode number).
FileKey = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class ImageRef:
    """One image a run reads: its path as the dataset lists it, and the dataset's root."""

    path: Path
    root: Path


#: A symlinked folder through which an image leaves its dataset's root: (the link as the
#: image's path names it, absolute; the real folder it points to).
FolderLink = tuple[str, str]


@dataclass(frozen=True)
class ImageProblem:
    """Why one image cannot be used: ``kind`` (one of the module's kinds) and ``detail``.

    ``via``: for an image outside the root, the symlinked folder inside the dataset that
    leads it there (``CUB_200_2011/images -> /fast/disk/images``), if one does.
    """

    path: Path
    kind: str
    detail: str = ""
    via: FolderLink | None = None

    def line(self) -> str:
        """``PATH: KIND (detail)``, as the data error lists it."""
        return f"{self.path}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_images` found over ``checked`` distinct files.

    ``decoded``: files opened and decoded now; ``recorded``: files skipped because the
    record knew them unchanged; ``seconds``: wall time of the whole check.
    """

    problems: tuple[ImageProblem, ...]
    checked: int
    decoded: int
    recorded: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


# -- one file ---------------------------------------------------------------------------


def locate(
    path: Path,
    real_root: str,
    real_dirs: dict[str, str] | None = None,
    links: dict[str, FolderLink | None] | None = None,
) -> FileKey | ImageProblem:
    """The file's key for the record, or the problem found without opening it.

    ``real_root``: ``os.path.realpath`` of the dataset root (resolved once by the caller).
    Checks, in order: the real path stays inside the root, the file exists, is a regular
    file the OS lets us stat, and is not empty. A file outside the root names the symlink
    that leads it there (:func:`leaving_link`; ``links``: its memo, by folder).

    ``real_dirs``: folder → its real path, filled as files are located (a run's images
    share a few thousand folders). A file that is itself no symlink then costs one
    ``lstat`` instead of ``os.path.realpath``'s one per path component; anything else (a
    symlink, a missing file, ``..``) takes the full path, with the same result.
    """
    if real_dirs is not None:
        found = _in_known_folder(os.fspath(path), real_root, real_dirs)
        if found is not None:
            return found
    real = os.path.realpath(path)
    if not _within(real, real_root):
        return _outside(path, real, real_root, links)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        detail = "a symlink whose target is gone" if os.path.islink(path) else ""
        return ImageProblem(path, MISSING, detail)
    except OSError as exc:
        return ImageProblem(path, UNREADABLE, exc.strerror or type(exc).__name__)
    if stat.S_ISDIR(st.st_mode):
        return ImageProblem(path, UNREADABLE, "a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        return ImageProblem(path, UNREADABLE, "not a regular file")
    if st.st_size == 0:
        return ImageProblem(path, EMPTY)
    return (real, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _within(real: str, real_root: str) -> bool:
    """Whether the real path ``real`` is ``real_root`` or inside it."""
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _outside(
    path: Path, real: str, real_root: str, links: dict[str, FolderLink | None] | None
) -> ImageProblem:
    """The problem of ``path``, whose real path ``real`` is outside ``real_root``: the
    symlinked folder or the symlink that leads it there, named when one does."""
    shown = os.path.abspath(path)
    folder = os.path.dirname(shown)
    if links is not None and folder in links:
        via = links[folder]
    else:
        via = leaving_link(folder, real_root)
        if links is not None:
            links[folder] = via
    if via is not None:
        return ImageProblem(
            path, OUTSIDE, f"in the symlinked folder {via[0]} -> {via[1]}, outside {real_root}", via
        )
    if os.path.islink(shown) and _within(os.path.realpath(folder), real_root):
        return ImageProblem(path, OUTSIDE, f"a symlink to {real}, outside {real_root}")
    return ImageProblem(path, OUTSIDE, f"resolves to {real}, outside {real_root}")


def leaving_link(folder: str, real_root: str) -> FolderLink | None:
    """The symlink through which ``folder`` (an absolute path) leaves ``real_root``: the
    first of its ancestors (or itself), walking down from ``/``, that is a symlink whose
    real path is outside the root while its parent's is inside; None when there is none
    (the folder is never inside the root, or a ``..`` leads it out).

    Returns (the link, its real target). Cost: one ``realpath`` per path component down to
    the link.
    """
    parts = Path(folder).parts
    inside = False
    for i in range(1, len(parts) + 1):
        prefix = os.path.join(*parts[:i])
        real = os.path.realpath(prefix)
        if _within(real, real_root):
            inside = True
        elif inside:
            return (prefix, real) if os.path.islink(prefix) else None
    return None


def _in_known_folder(path: str, real_root: str, real_dirs: dict[str, str]) -> FileKey | None:
    """:func:`locate`'s key for a regular, non-empty file that is no symlink, found through
    its folder's real path; None for anything else (the caller takes the full path)."""
    head, tail = os.path.split(path)
    if tail in ("", ".", ".."):
        return None
    folder = real_dirs.get(head)
    if folder is None:  # (threads: two may resolve the same folder; both store the same)
        folder = real_dirs[head] = os.path.realpath(head)
    real = os.path.join(folder, tail)
    if not real.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    try:
        st = os.lstat(real)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return None
    return (real, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def decode_problem(path: str | Path, shown: Path | None = None) -> ImageProblem | None:
    """Open, ``verify()`` and fully load one image file; the problem found, or None.

    ``shown``: the path the problem names (default ``path``). See the module docstring
    for what each step finds.
    """
    shown = Path(path) if shown is None else shown
    try:
        # Image.open reads the header and refuses more than pixel_limit() pixels itself
        with Image.open(path) as img:
            width, height = img.size
            img.verify()
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
            img.load()
    except Image.DecompressionBombError as exc:
        text = str(exc).rstrip(".")
        return ImageProblem(shown, OVERSIZE, f"{text}; the limit is 2 × PIL.Image.MAX_IMAGE_PIXELS")
    except UnidentifiedImageError:
        return ImageProblem(shown, NOT_AN_IMAGE, "Pillow does not recognise its format")
    except FileNotFoundError:
        return ImageProblem(shown, MISSING, "removed while the run checked it")
    except PermissionError as exc:
        return ImageProblem(shown, UNREADABLE, exc.strerror or "permission denied")
    except Exception as exc:  # noqa: BLE001 - any decoder failure on the file's data
        text = str(exc) or type(exc).__name__
        truncated = isinstance(exc, EOFError) or "truncated" in text.lower()
        return ImageProblem(shown, TRUNCATED if truncated else CORRUPT, text)
    return None


def check_image(path: Path, root: Path) -> ImageProblem | None:
    """Every check of the module on one file (no record): the problem, or None."""
    where = locate(Path(path), os.path.realpath(root))
    if isinstance(where, ImageProblem):
        return where
    return decode_problem(where[0], Path(path))


# -- many files -------------------------------------------------------------------------


def verify_images(
    refs: Iterable[ImageRef],
    *,
    record: VerifiedRecord | None = None,
    workers: int = WORKERS,
    progress: ProgressOutput | None = None,
    label: str = "fgbmk checking images:",
) -> Verification:
    """Check every distinct image of ``refs`` (see the module docstring); never raises for
    a broken file: the problems come back sorted by path.

    ``record``: files it knows unchanged are not reopened, files that pass are added.
    ``workers``: threads that locate and decode files. ``progress``: where a progress line
    goes while files are decoded (None: silent).
    """
    t0 = time.perf_counter()
    unique = list({r.path: r for r in refs}.values())
    real_roots = {root: os.path.realpath(root) for root in {r.root for r in unique}}
    real_dirs: dict[str, str] = {}
    links: dict[str, FolderLink | None] = {}
    problems: list[ImageProblem] = []
    located: list[tuple[ImageRef, FileKey]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fgbmk-verify") as pool:
        for block in _blocks(unique):
            found = _mapped(
                pool, lambda r: locate(r.path, real_roots[r.root], real_dirs, links), block
            )
            for ref, where in zip(block, found, strict=True):
                if isinstance(where, ImageProblem):
                    problems.append(where)
                else:
                    located.append((ref, where))
        known = record.known([key for _, key in located]) if record is not None else set()
        todo = [(ref, key) for ref, key in located if key not in known]
        bar = Progress(progress if todo else None, label, len(todo), "images", rate_unit="img")
        for block in _blocks(todo):
            found = _mapped(pool, lambda item: decode_problem(item[1][0], item[0].path), block)
            passed = []
            for (_, key), problem in zip(block, found, strict=True):
                if problem is None:
                    passed.append(key)
                else:
                    problems.append(problem)
            if record is not None:
                record.add(passed)
            bar.update(len(block))
        bar.close()
    return Verification(
        problems=tuple(sorted(problems, key=lambda p: str(p.path))),
        checked=len(unique),
        decoded=len(todo),
        recorded=len(located) - len(todo),
        seconds=time.perf_counter() - t0,
    )


def _mapped(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``fn`` of each item, in order, the items handed to the threads :data:`PER_TASK` at a
    time (a future per file cost more than locating a file known to the record)."""
    parts = [items[i : i + PER_TASK] for i in range(0, len(items), PER_TASK)]
    return [r for part in pool.map(lambda p: [fn(x) for x in p], parts) for r in part]


def _blocks(items: Sequence) -> Iterator[Sequence]:
    for start in range(0, len(items), BLOCK):
        yield items[start : start + BLOCK]


def broken_images_error(problems: Sequence[ImageProblem], checked: int) -> DataError:
    """The run's data error for ``problems`` among ``checked`` images (first ten listed)."""
    kinds: dict[str, int] = {}
    for p in problems:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    # the commonest kind first, ties by name
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    hint = (
        "restore or replace these files (or remove them from the dataset's index), "
        "then rerun; a broken image is a data error, never scored as a wrong answer"
    )
    links = sorted({p.via for p in problems if p.via is not None})
    if links:
        advice = [
            f"{link} is a symlinked folder inside the dataset that points outside it, to "
            f"{target} ({sum(1 for p in problems if p.via == (link, target))} images): "
            "an image must stay inside the dataset's real folder, so symlink the whole "
            "dataset folder instead (keep the dataset folder itself on the other disk, "
            f"with {os.path.basename(link)}/ inside it, and link to it), or copy {target} "
            "in place of the link; then rerun"
            for link, target in links[:3]
        ]
        if len(links) > 3:
            advice.append(f"… and {len(links) - 3} more symlinked folders like these")
        if any(p.via is None for p in problems):
            advice.append("for the other files: " + hint)
        hint = "\n".join(advice)
    return DataError(
        f"{len(problems)} of {checked} images the selected cases need cannot be used "
        f"({counts}); no case was scored",
        [p.line() for p in problems],
        hint=hint,
    )


# -- the record of verified files -----------------------------------------------------------

#: (``verified``, the table of the size-and-mtime record of ``verify-1``, is left unread.)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verified_files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    rule TEXT NOT NULL
) WITHOUT ROWID
"""
_CHUNK = 500


def _rule() -> str:
    """What a record row was checked against: the check's version and the pixel limit."""
    return f"{VERIFY_VERSION}:{pixel_limit()}"


class VerifiedRecord:
    """Files that passed the check, in ``DIR/images-verified.sqlite3`` (WAL mode: several
    processes read and write at once; each write is one short transaction)."""

    def __init__(self, directory: Path | str) -> None:
        self.path = Path(directory) / RECORD_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._store = Store(
                self.path,
                _SCHEMA,
                what="record of checked images",
                rebuilt="the images are checked again",
            )
        except OSError as exc:
            raise ConfigError(
                f"--fgbmk-cache: cannot open the record of checked images {self.path}: {exc}; "
                "choose a writable folder or pass --fgbmk-no-cache"
            ) from None
        self._conn = self._store.conn

    def known(self, keys: Sequence[FileKey]) -> set[FileKey]:
        """The keys recorded as passed: the same size, mtime, ctime, inode and check rule."""
        wanted = {key[0]: tuple(key) for key in keys}
        paths = list(wanted)
        rule = _rule()
        out: set[FileKey] = set()
        for start in range(0, len(paths), _CHUNK):
            chunk = paths[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._store.guarded(
                lambda chunk=chunk, marks=marks: self._conn.execute(
                    "SELECT path, size, mtime_ns, ctime_ns, inode FROM verified_files "
                    f"WHERE rule=? AND path IN ({marks})",
                    (rule, *chunk),
                ).fetchall()
            )
            out.update(key for key in map(tuple, rows) if wanted.get(key[0]) == key)
        return out

    def add(self, keys: Sequence[FileKey]) -> None:
        """Record ``keys`` as passed (one transaction)."""
        if not keys:
            return
        rule = _rule()
        rows = [(*key, rule) for key in keys]

        def write() -> None:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO verified_files VALUES (?, ?, ?, ?, ?, ?)", rows
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

        self._store.guarded(write)

    def count(self) -> int:
        return self._store.guarded(
            lambda: self._conn.execute("SELECT COUNT(*) FROM verified_files").fetchone()[0]
        )

    def close(self) -> None:
        self._conn.close()


def open_record(directory: Path | str | None) -> VerifiedRecord | None:
    """The record in the cache folder ``directory``; None without a cache (``--fgbmk-no-cache``)."""
    return None if directory is None else VerifiedRecord(directory)
