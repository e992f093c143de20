"""Writing a run's report folder: results.json, samples.jsonl, thumbnails, report.html.

No pytest here: :class:`ReportWriter` takes case results and sample records from whoever
runs the benchmark (the plugin's report hook, or a script) and writes the folder.
Under xdist each worker saves its part (``.parts/<worker>.json``); the controller merges
the parts into the one results.json.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
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
    write_results,
    write_samples,
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
    chosen: dict[str, tuple[str, str]] = {}
    count: dict[str, int] = {}
    wanted = set(flipped)
    for ds_name, image in images:
        if ds_name in datasets:
            chosen.setdefault(thumbnail_name(ds_name, image), (ds_name, image))
    for r in samples:
        if (r.case_id, r.id) in wanted:
            chosen.setdefault(thumbnail_name(r.dataset, r.image), (r.dataset, r.image))
    for r in samples:
        if r.correct or count.get(r.case_id, 0) >= per_case or r.dataset not in datasets:
            continue
        count[r.case_id] = count.get(r.case_id, 0) + 1
        chosen.setdefault(thumbnail_name(r.dataset, r.image), (r.dataset, r.image))
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


class ReportWriter:
    """Collects a run's cases and samples, then writes the report folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.cases: dict[str, CaseResult] = {}
        self.samples: dict[str, list[SampleRecord]] = {}
        self.extra: dict[str, Any] = {}

    def add_case(self, case: CaseResult) -> None:
        """Add or replace a case (the later report of the same case wins)."""
        self.cases[case.case_id] = case

    def add_samples(self, case_id: str, records: Iterable[SampleRecord]) -> None:
        self.samples[case_id] = list(records)

    def enrich(self, case_id: str, details: Mapping[str, Any]) -> None:
        """Merge task details measured in this process into a case seen only as properties."""
        c = self.cases.get(case_id)
        if c is not None and details:
            merged = {**dict(details), **dict(c.details)}
            self.cases[case_id] = _replace(c, details=merged)

    # -- xdist parts ---------------------------------------------------------------------

    def save_part(self, worker: str, info: Mapping[str, Any]) -> Path:
        """A worker's share: its samples, case details and run info."""
        part = {
            "samples": {cid: [r.as_dict() for r in rs] for cid, rs in self.samples.items()},
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
            for cid, rows in part.get("samples", {}).items():
                self.samples[cid] = [SampleRecord.from_dict(r) for r in rows]
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
        """Write results.json, samples.jsonl, thumbnails and (by default) report.html."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ordered = [self.samples[cid] for cid in sorted(self.samples)]
        records = [r for rs in ordered for r in rs]
        written = []
        samples_file = None
        if records:
            write_samples(records, self.folder / SAMPLES_NAME)
            samples_file = SAMPLES_NAME
            written.append(self.folder / SAMPLES_NAME)
        cases = tuple(sorted(self.cases.values(), key=lambda c: (c.dataset, c.task, c.case_id)))
        results_path = write_results(RunResults(run, cases, samples_file), self.folder)
        written.insert(0, results_path)
        fallen = drops_shown(cases)
        if datasets and (records or fallen):
            write_thumbnails(
                self.folder, datasets, records, flipped=flipped_shown(cases), images=fallen
            )
        if html:
            from pytest_fgbmk.report.html import build_report

            written.append(build_report(results_path, self.folder))
        return written


def _replace(case: CaseResult, **changes: Any) -> CaseResult:
    from dataclasses import replace

    return replace(case, **changes)
