"""Writing a run's report folder: results.json, samples.jsonl, thumbnails, report.html.

No pytest here: :class:`ReportWriter` takes case results and sample records from whoever
runs the benchmark (the plugin's report hook, or a script) and writes the folder.
Under xdist each worker saves its part (``.parts/<worker>.json``); the controller merges
the parts into the one results.json. Sample records are spooled to ``.spool/`` as each
case is added (never all held in memory) and concatenated into samples.jsonl at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_fgbmk.questions.cases import SPLIT
from pytest_fgbmk.report.results import (
    SAMPLES_NAME,
    CaseResult,
    RunInfo,
    RunResults,
    SampleRecord,
    atomic_write_text,
    read_samples,
    sample_line,
    write_results,
)
from pytest_fgbmk.report.shown import (
    FLIPPED_SHOWN,
    flipped_ids,
    thumbnail_name,
    value_drops_shown,
)

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset


PARTS = ".parts"
#: Where sample records wait, a spool file per case, until the folder is written.
SPOOL = ".spool"
#: Wrong answers per case whose images get a thumbnail (the report's examples).
THUMBS_PER_CASE = 12
THUMB_SIZE = 112


def dataset_info(ds: Dataset) -> dict[str, Any]:
    """What results.json records of a dataset: hash, size, levels, layout, root."""
    return {
        "index_hash": ds.index_hash,
        "images": len(ds.samples),
        "categories": len(ds.categories),
        "levels": list(ds.levels),
        "meta_category": ds.meta_category,
        "layout": ds.layout,
        "root": str(ds.root),
        "skipped": len(ds.skipped),
    }


def flipped_shown(cases: Iterable[CaseResult]) -> list[tuple[str, str]]:
    """(case id, question id) of the flipped questions the report shows."""
    return [(c.case_id, q) for c in cases for q in flipped_ids(c)[:FLIPPED_SHOWN]]


def drops_shown(cases: Iterable[CaseResult]) -> list[tuple[str, str]]:
    """(dataset, image) of the samples the report shows as fallen most (machine cases)."""
    return [
        (str(d.get("dataset", c.dataset)), str(d["image"]))
        for c in cases
        for d in value_drops_shown(c)[:FLIPPED_SHOWN]
        if d.get("image")
    ]


def plain(obj: Any) -> Any:
    """A dataclass or mapping as JSON-ready values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    return obj


def write_thumbnails(
    folder: Path,
    datasets: Mapping[str, Dataset],
    samples: Sequence[SampleRecord],
    per_case: int = THUMBS_PER_CASE,
    flipped: Collection[tuple[str, str]] = (),
    images: Collection[tuple[str, str]] = (),
) -> int:
    """JPEG thumbnails of the images of each case's first wrong answers; returns the count.

    ``flipped`` holds (case id, question id) pairs whose images get one too (the questions
    the report shows as flipped right → wrong against the baseline); ``images`` holds
    (dataset, image path) pairs that get one too (a machine case's fallen samples).
    An image that cannot be opened is left out (the report then shows no thumbnail).
    """
    wanted = set(flipped)
    picked_flipped = [(r.dataset, r.image) for r in samples if (r.case_id, r.id) in wanted]
    count: dict[str, int] = {}
    wrong = []
    for r in samples:
        if r.correct or count.get(r.case_id, 0) >= per_case or r.dataset not in datasets:
            continue
        count[r.case_id] = count.get(r.case_id, 0) + 1
        wrong.append((r.dataset, r.image))
    return write_chosen(folder, datasets, [*images, *picked_flipped, *wrong])


def write_chosen(
    folder: Path, datasets: Mapping[str, Dataset], pairs: Iterable[tuple[str, str]]
) -> int:
    """Thumbnails of (dataset, image path) pairs, the first pair of each thumbnail name kept
    and pairs of datasets not in ``datasets`` left out; returns how many exist afterwards."""
    chosen: dict[str, tuple[str, str]] = {}
    for ds_name, image in pairs:
        if ds_name in datasets:
            chosen.setdefault(thumbnail_name(ds_name, image), (ds_name, image))
    written = 0
    for name, (ds_name, image) in chosen.items():
        target = Path(folder) / name
        if target.exists():
            written += 1
            continue
        ds = datasets[ds_name]
        # the kept path maps, the test split's first (not a scan of every sample per image:
        # iNat2021 has 2.7M)
        sample = ds.sample_lookup(SPLIT)[1].get(image) or ds.sample_lookup(None)[1].get(image)
        if sample is None:
            continue
        try:
            img = ds.open_image(sample)
            img = img.copy()
            img.thumbnail((THUMB_SIZE, THUMB_SIZE))
            target.parent.mkdir(parents=True, exist_ok=True)
            img.convert("RGB").save(target, "JPEG", quality=80)
            written += 1
        except Exception:  # a bad image must not lose the run's report
            continue
    return written


@dataclass(frozen=True)
class Spooled:
    """One case's sample records as written to its spool file (samples.jsonl lines).

    ``path``: the file; ``lines``: how many records it holds; ``wrong``: (dataset, image)
    of its first wrong answers, at most :data:`THUMBS_PER_CASE` per dataset, in the order
    asked (what the report's thumbnails need, so the file is not read again for them).
    """

    path: Path
    lines: int
    wrong: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "lines": self.lines, "wrong": [list(w) for w in self.wrong]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spooled:
        wrong = tuple((str(a), str(b)) for a, b in d["wrong"])
        return cls(Path(d["file"]), int(d["lines"]), wrong)


class ReportWriter:
    """Collects a run's cases and samples, then writes the report folder.

    A case's sample records go to disk as they are added (a spool file per case under
    ``DIR/.spool/``, in samples.jsonl's own line encoding), so memory does not grow with
    the number of answers: at 3.5M questions the records held to the end were about 3 GB.
    :meth:`write` concatenates the spool files in case-id order into samples.jsonl (the
    same bytes as writing the records at once) and removes them.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.cases: dict[str, CaseResult] = {}
        self.samples: dict[str, Spooled] = {}
        self.extra: dict[str, Any] = {}
        self._spool: Path | None = None
        self._spools: list[Path] = []
        self._count = 0

    def add_case(self, case: CaseResult) -> None:
        """Add or replace a case (the later report of the same case wins)."""
        self.cases[case.case_id] = case

    def add_samples(self, case_id: str, records: Iterable[SampleRecord]) -> None:
        """Write a case's records to its spool file, one at a time (a later call for the
        same case replaces them). Raises OSError when the report folder is not writable."""
        if self._spool is None:
            (self.folder / SPOOL).mkdir(parents=True, exist_ok=True)
            self._spool = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.folder / SPOOL))
            self._spools.append(self._spool)
        self._count += 1
        path = self._spool / f"{self._count:07d}.jsonl"
        lines = 0
        wrong: list[tuple[str, str]] = []
        per_ds: dict[str, int] = {}
        with open(path, "w", encoding="utf-8") as f:
            for r in records:
                f.write(sample_line(r))
                lines += 1
                if not r.correct and per_ds.get(r.dataset, 0) < THUMBS_PER_CASE:
                    per_ds[r.dataset] = per_ds.get(r.dataset, 0) + 1
                    wrong.append((r.dataset, r.image))
        self._put(case_id, Spooled(path, lines, tuple(wrong)))

    def _put(self, case_id: str, spooled: Spooled) -> None:
        old = self.samples.get(case_id)
        if old is not None and old.path != spooled.path:
            old.path.unlink(missing_ok=True)
        self.samples[case_id] = spooled

    def records(self, case_id: str) -> Iterator[SampleRecord]:
        """A case's spooled records, read back in the order added (none when it has none)."""
        s = self.samples.get(case_id)
        if s is None or not s.lines:
            return iter(())
        return read_samples(s.path)

    def enrich(self, case_id: str, details: Mapping[str, Any]) -> None:
        """Merge task details measured in this process into a case seen only as properties."""
        c = self.cases.get(case_id)
        if c is not None and details:
            merged = {**dict(details), **dict(c.details)}
            self.cases[case_id] = _replace(c, details=merged)

    # -- xdist parts ---------------------------------------------------------------------

    def save_part(self, worker: str, info: Mapping[str, Any]) -> Path:
        """A worker's share: its spooled samples (where they are), case details and run info."""
        part = {
            "samples": {cid: s.as_dict() for cid, s in self.samples.items()},
            "spools": [str(p) for p in self._spools],
            "cases": [c.as_dict() for c in self.cases.values()],
            "info": plain(info),
        }
        path = self.folder / PARTS / f"{worker}.json"
        atomic_write_text(path, json.dumps(part, ensure_ascii=False))
        return path

    def merge_parts(self) -> list[dict[str, Any]]:
        """Read and delete the workers' parts; returns their run infos."""
        folder = self.folder / PARTS
        infos = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            part = json.loads(path.read_text(encoding="utf-8"))
            for cid, d in part.get("samples", {}).items():
                self._put(cid, Spooled.from_dict(d))
            self._spools.extend(Path(p) for p in part.get("spools", []))
            for i, d in enumerate(part.get("cases", [])):
                c = CaseResult.from_dict(d, f"{path}: cases[{i}]")
                self.cases[c.case_id] = c
            infos.append(part.get("info", {}))
            path.unlink()
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        return infos

    # -- the folder ----------------------------------------------------------------------

    def write(
        self,
        run: RunInfo,
        *,
        datasets: Mapping[str, Dataset] | None = None,
        html: bool = True,
    ) -> list[Path]:
        """Write results.json, samples.jsonl, thumbnails and (by default) report.html.

        The spool files are removed afterwards (also when writing fails)."""
        try:
            return self._write(run, datasets, html)
        finally:
            self._clean()

    def _write(
        self, run: RunInfo, datasets: Mapping[str, Dataset] | None, html: bool
    ) -> list[Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        order = [cid for cid in sorted(self.samples) if self.samples[cid].lines]
        written = []
        samples_file = None
        if order:
            atomic_write_text(self.folder / SAMPLES_NAME, self._lines(order))
            samples_file = SAMPLES_NAME
            written.append(self.folder / SAMPLES_NAME)
        cases = tuple(sorted(self.cases.values(), key=lambda c: (c.dataset, c.task, c.case_id)))
        results_path = write_results(RunResults(run, cases, samples_file), self.folder)
        written.insert(0, results_path)
        fallen = drops_shown(cases)
        if datasets and (order or fallen):
            pairs = self._thumbnails(order, cases, fallen, datasets)
            write_chosen(self.folder, datasets, pairs)
        if html:
            from pytest_fgbmk.report.html import build_report

            written.append(build_report(results_path, self.folder))
        return written

    def _lines(self, order: Sequence[str]) -> Iterator[str]:
        """samples.jsonl's text: the spool files in case-id order, in 1 MB chunks."""
        for cid in order:
            with open(self.samples[cid].path, encoding="utf-8") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

    def _thumbnails(
        self,
        order: Sequence[str],
        cases: Sequence[CaseResult],
        fallen: list[tuple[str, str]],
        datasets: Mapping[str, Dataset],
    ) -> list[tuple[str, str]]:
        """(dataset, image) pairs to thumbnail, in :func:`write_thumbnails`'s order: fallen
        samples, then flipped questions (their cases' spool files read back), then each
        case's first wrong answers."""
        wanted: dict[str, set[str]] = {}
        for cid, qid in flipped_shown(cases):
            wanted.setdefault(cid, set()).add(qid)
        pairs = list(fallen)
        for cid in order:
            if cid in wanted:
                pairs += [(r.dataset, r.image) for r in self.records(cid) if r.id in wanted[cid]]
        for cid in order:
            pairs += [w for w in self.samples[cid].wrong if w[0] in datasets][:THUMBS_PER_CASE]
        return pairs

    def _clean(self) -> None:
        """Remove the spool folders: this run's and its workers', and any a killed earlier
        run into this folder left (the folder is written once per run, after its workers)."""
        for folder in self._spools:
            shutil.rmtree(folder, ignore_errors=True)
        self._spools = []
        shutil.rmtree(self.folder / SPOOL, ignore_errors=True)


def _replace(case: CaseResult, **changes: Any) -> CaseResult:
    from dataclasses import replace

    return replace(case, **changes)
