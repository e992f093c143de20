"""The machine-oriented measurements of a session: features once, then one figure per case.

The pytest plugin parametrizes the machine suites from :meth:`MachineSession.params`
(dataset metadata only: no model, no image) and asks :meth:`MachineSession.measurement`
for each case. Everything here is plain Python over :class:`~pytest_fgbmk.session.FgbmkSession`::

    machine = MachineSession(FgbmkSession(SessionOptions(model="efficientnet-lite0")))
    m = machine.measurement(MachineCase("retrieval", "synth_birds"))

Each selected dataset's train and test features are extracted once per process through
:func:`~pytest_fgbmk.machine.features.extract_features` into a
:class:`~pytest_fgbmk.machine.feature_store.FeatureStore` under the session's cache folder
(a temporary folder with ``--fgbmk-no-cache``) and shared by every case; each probe is
trained once and shared too (the robustness head comes from a probe of its own, below).

The cases, their value (percent) and the per-sample outcomes the baseline gate pairs:

* ``retrieval``: mAP of the ``cls`` view, query = each test image, gallery = the train
  split; recall@1 and recall@10 as properties. Outcome per query: its AP (``score`` and
  ``details["per_query"]``, paired by the gate's sign-flip test) and whether its nearest
  gallery item is of its class (``correct``). Interval: percentile bootstrap of the mean
  per-query AP (2,000 resamples, seeded by dataset and task). Queries without a positive
  in the gallery are left out and counted.
* ``linear_probe``: top-1 of the DINOv2-protocol probe (:mod:`~pytest_fgbmk.machine.probe`,
  its default grid: views ``cls``/``cls4`` ± mean patch × 8 learning rates × 2 weight
  decays on preconditioned features, 10 epochs or 200 steps; the head chosen on a
  validation split carved from train). Outcome per
  test image: correct or not (McNemar). Interval: Wilson. Multi-label datasets report mAP
  over labels; their outcome is each image's AP over labels.
* ``alignment_effect``: the same probe on the ``aligned`` view; properties: origin top-1 and
  the delta. Only for a model whose features have an ``aligned`` view.
* ``meta_categories``: the multiple (union-of-datasets) probe's top-1 on this dataset's
  test split; properties: single top-1 and the drop. Needs two single-label datasets.
* ``feature_robustness``: top-1 after L∞ PGD in feature space against a probe's head at
  the default relative radius :data:`DEFAULT_EPS_REL`. That probe is the plain DINOv2 grid
  (:data:`ROBUSTNESS_PROBE`: no preconditioner, 60 epochs, 3 weight decays), as in the release: the
  preconditioned head is more accurate but leans on low-variance directions that an L∞
  attack breaks at once (on the synthetic birds at eps 0.01: 0.3 % left against 25.6 %),
  which would measure the head rather than the encoder's features; properties: clean top-1, the drop
  and the whole curve. On the bundled synthetic data ``synth_birds`` gets a coarse control
  case at its taxonomy level with the number of classes nearest :data:`COARSE_TARGET`
  (the genus, 8 classes at the default size): the same images and features, coarse labels,
  as CIFAR-100 is the generic control when present.

The validation split is 10 % of each class (DINOv2); when no class has 8 training images
(10 % would round to nothing) it rises to ``0.75 / largest class`` so every class of the
largest size gives one image, and a tiny dataset is still measured.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.measurement import Asked, Measurement, Outcome

if TYPE_CHECKING:
    import torch

    from pytest_fgbmk.data.records import Dataset
    from pytest_fgbmk.machine.meta import MetaOutcome
    from pytest_fgbmk.machine.probe import ProbeResult, ProbeSettings
    from pytest_fgbmk.session import FgbmkSession

#: The parameter the plugin parametrizes machine suites with (human suites use ``fgbmk_case``).
MACHINE_ARG = "fgbmk_machine_case"
TASKS = ("retrieval", "linear_probe", "alignment_effect", "meta_categories", "feature_robustness")
RETRIEVAL_VIEW = "cls"
RECALL_KS = (1, 10)
#: Relative L∞ radius of the gated robustness figure (see :mod:`pytest_fgbmk.machine.robustness`).
DEFAULT_EPS_REL = 0.01
ROBUSTNESS_NORM = "linf"
#: The coarse control's level: the one whose class count is nearest this.
COARSE_TARGET = 10
#: Probe settings of the robustness head (see the module docstring): the plain DINOv2 grid.
ROBUSTNESS_PROBE = {
    "shrinkage": 0.0,
    "epochs": 60,
    "min_steps": 0,
    "weight_decays": (1e-4, 1e-3, 1e-2),
}
COARSE_DATASET = "synth_birds"
BOOTSTRAP_RESAMPLES = 2000
#: Without a terminal, a progress line at most this often during feature extraction.
PROGRESS_EVERY_S = 30.0
#: Below this many training images in the largest class, the validation fraction rises.
VAL_MIN_CLASS = 8


@dataclass(frozen=True)
class MachineCase:
    """One machine-oriented case: the task, the dataset, and (robustness control) a level."""

    task: str
    dataset: str
    level: str | None = None

    @property
    def param_id(self) -> str:
        """The test's parameter id: ``synth_birds`` or ``synth_birds-genus``."""
        return self.dataset if self.level is None else f"{self.dataset}-{self.level}"

    @property
    def id(self) -> str:
        return f"{self.task}-{self.param_id}"


@dataclass(frozen=True)
class MachineParam:
    """One parameter of a machine suite: its id, its case, or the reason it is skipped."""

    id: str
    case: MachineCase | None
    skip: str | None = None


def coarse_level(dataset: Dataset) -> str | None:
    """The taxonomy level (coarser than the categories, ≥ 2 classes) nearest :data:`COARSE_TARGET`."""
    best: tuple[int, int, str] | None = None
    n_fine = len(dataset.categories)
    for i, level in enumerate(dataset.levels):
        n = len({c.taxonomy[i] for c in dataset.categories if len(c.taxonomy) > i})
        if 2 <= n < n_fine:
            key = (abs(n - COARSE_TARGET), i, level)
            best = key if best is None or key < best else best
    return None if best is None else best[2]


def level_labels(dataset: Dataset, split: str, level: str) -> tuple[np.ndarray, int]:
    """Class indices of ``split`` at taxonomy ``level`` (sorted names), and the class count."""
    i = dataset.levels.index(level)
    names = sorted({c.taxonomy[i] for c in dataset.categories})
    index = {n: k for k, n in enumerate(names)}
    y = [index[dataset.categories[s.category].taxonomy[i]] for s in dataset.split(split)]
    return np.array(y, dtype=np.int64), len(names)


def val_fraction(train_labels: np.ndarray, base: float = 0.1) -> float:
    """The validation fraction: ``base``, raised for tiny training sets (module docstring)."""
    keys = train_labels if train_labels.ndim == 1 else train_labels.argmax(1)
    if keys.size == 0:
        return base
    largest = int(np.bincount(keys).max())
    return base if largest >= VAL_MIN_CLASS else min(0.5, 0.75 / max(largest, 1))


def bootstrap_interval(values: np.ndarray, seed: int) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of the mean of ``values`` (0–1), in percent."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return 0.0, 100.0
    rng = np.random.default_rng(seed)
    means = np.empty(BOOTSTRAP_RESAMPLES)
    step = max(1, 2_000_000 // v.size)
    for start in range(0, BOOTSTRAP_RESAMPLES, step):
        stop = min(BOOTSTRAP_RESAMPLES, start + step)
        means[start:stop] = v[rng.integers(0, v.size, size=(stop - start, v.size))].mean(1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(max(0.0, 100 * low)), float(min(100.0, 100 * high))


def stable_seed(*parts: object) -> int:
    """A seed derived from names (stable across processes and machines)."""
    text = "\0".join(map(str, parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def machine_properties(m: Measurement) -> list[tuple[str, str]]:
    """The machine case's extra JUnit properties (``details["properties"]``), in order."""
    out = []
    for key, value in (m.details or {}).get("properties", {}).items():
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        out.append((key, text))
    return out


class _ProgressText:
    """A text stream for :func:`extract_features` that forwards its progress to the terminal.

    On a terminal the line is redrawn in place; otherwise a line at most every
    :data:`PROGRESS_EVERY_S` seconds (the session writes a summary line at the end).
    """

    def __init__(self, write: Callable[[str], None], rewrite: Callable[[str], None] | None):
        self._write = write
        self._rewrite = rewrite
        self._shown = time.monotonic()

    def write(self, text: str) -> int:
        for part in text.split("\r"):
            line = part.strip()
            if not line:
                continue
            if self._rewrite is not None:
                self._rewrite("fgbmk " + line)
            elif time.monotonic() - self._shown >= PROGRESS_EVERY_S:
                self._write("fgbmk " + line)
                self._shown = time.monotonic()
        return len(text)

    def flush(self) -> None:
        return None


class MachineSession:
    """The machine-oriented state of one process: features, probes, measurements."""

    def __init__(
        self,
        session: FgbmkSession,
        *,
        write: Callable[[str], None] | None = None,
        rewrite: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self._write = write
        self._rewrite = rewrite
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._features: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
        self._probes: dict[tuple[str, str | None, bool], ProbeResult] = {}
        self._meta: dict[str, MetaOutcome] | None = None
        self._measurements: dict[str, Measurement] = {}
        self.extraction_stats: list[tuple[str, Any]] = []

    # -- parametrization (metadata only) ---------------------------------------------------

    def params(self, task: str) -> list[MachineParam]:
        """One parameter per selected dataset (skipped with the reason where it cannot run)."""
        if task not in TASKS:
            raise ConfigError(f"unknown machine-oriented task {task!r}; use one of {TASKS}")
        s = self.session
        data = s.load_data()
        out = []
        single = self.meta_names()
        for name, ds in data.datasets.items():
            reason = _split_problem(ds) or self._task_problem(task, ds, single)
            out.append(MachineParam(name, None if reason else MachineCase(task, name), reason))
            if (
                task == "feature_robustness"
                and s.options.data is None
                and name == COARSE_DATASET
                and not reason
            ):
                level = coarse_level(ds)
                if level is not None:
                    case = MachineCase(task, name, level)
                    out.append(MachineParam(case.param_id, case))
        for m in s.missing_for(task):
            out.append(MachineParam(m.name, None, f"dataset {m.name} not found: {m.reason}"))
        if not out:
            reason = f"no dataset selected under {data.label} for {task}"
            out.append(MachineParam(f"no-{task}-case", None, reason))
        return out

    @staticmethod
    def _task_problem(task: str, ds: Dataset, single: list[str]) -> str | None:
        if ds.multilabel and task in ("retrieval", "meta_categories", "feature_robustness"):
            return (
                f"{task} needs single-label classes; {ds.name} is multi-label "
                "(its linear probe reports mAP over labels)"
            )
        if task == "meta_categories" and len(single) < 2:
            have = ", ".join(single) or "none"
            return (
                "classification across meta-categories needs at least 2 single-label datasets "
                f"selected (have: {have}); select more with --fgbmk-datasets"
            )
        return None

    # -- run time ------------------------------------------------------------------------

    def skip_reason(self, case: MachineCase) -> str | None:
        """Why the loaded model cannot run ``case`` (no encode; no ``aligned`` view), or None."""
        model = self.session.model()
        if not model.can_encode:
            return (
                f"model {self.session.options.model} cannot encode images "
                "(machine-oriented cases need the encode capability)"
            )
        if case.task == "alignment_effect":
            views = self.features(case.dataset, "train")
            if "aligned" not in views:
                return (
                    f"model {self.session.options.model} has no 'aligned' feature view "
                    f"(it gives {', '.join(sorted(views))}); the alignment effect needs an "
                    "LVLM with a projector (e.g. tiny-llava, hf:llava-…)"
                )
        return None

    def store_root(self) -> Path:
        cache = self.session.options.cache
        if cache is not None:
            return Path(cache)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fgbmk-features-")
        return Path(self._tmp.name)

    def features(self, dataset: str, split: str) -> dict[str, torch.Tensor]:
        """Every encode view of a dataset's split (extracted once, cached on disk)."""
        key = (dataset, split)
        if key not in self._features:
            from pytest_fgbmk.machine.feature_store import FeatureStore
            from pytest_fgbmk.machine.features import ExtractionStats, extract_features

            stats = ExtractionStats()
            progress = _ProgressText(self._write, self._rewrite) if self._write else None
            self._features[key] = extract_features(
                self.session.model(),
                self.session.dataset(dataset),
                split,
                FeatureStore(self.store_root()),
                batch_size=self.session.options.batch_size or 32,
                progress=progress,
                stats=stats,
            )
            self.extraction_stats.append((f"{dataset}/{split}", stats))
            if self._write is not None:
                n = len(self.session.dataset(dataset).split(split))
                how = (
                    f"{stats.images} encoded ({stats.images_per_second:.1f} images/s)"
                    if stats.computed_chunks
                    else "all from the feature cache"
                )
                self._write(f"fgbmk features {dataset}/{split}: {n} images, {how}")
        return self._features[key]

    def labels(self, dataset: str, split: str, level: str | None = None) -> tuple[np.ndarray, int]:
        """Labels of a split (class indices, or a 0/1 matrix if multi-label) and the class count."""
        ds = self.session.dataset(dataset)
        if level is not None:
            return level_labels(ds, split, level)
        from pytest_fgbmk.machine.features import labels_of

        return labels_of(ds, split), len(ds.categories)

    def settings(self, train_labels: np.ndarray, robustness: bool = False) -> ProbeSettings:
        from pytest_fgbmk.machine.probe import ProbeSettings

        return ProbeSettings(
            val_fraction=val_fraction(train_labels),
            seed=self.session.options.seed,
            **(ROBUSTNESS_PROBE if robustness else {}),
        )

    def views(self, dataset: str, split: str) -> dict[str, torch.Tensor]:
        from pytest_fgbmk.machine.probe import dinov2_views

        return dinov2_views(self.features(dataset, split))

    def probe(
        self, dataset: str, level: str | None = None, robustness: bool = False
    ) -> ProbeResult:
        """The dataset's linear probe (at a taxonomy level for the coarse control), once.

        ``robustness``: the probe the robustness case attacks (:data:`ROBUSTNESS_PROBE`).
        """
        key = (dataset, level, robustness)
        if key not in self._probes:
            from pytest_fgbmk.machine.probe import train_probe

            ytr, c = self.labels(dataset, "train", level)
            yte, _ = self.labels(dataset, "test", level)
            self._probes[key] = train_probe(
                self.views(dataset, "train"),
                ytr,
                self.views(dataset, "test"),
                yte,
                n_classes=c,
                settings=self.settings(ytr, robustness),
            )
        return self._probes[key]

    def measurement(self, case: MachineCase) -> Measurement:
        """The case's measurement (computes what it needs first; kept for the session)."""
        if case.id not in self._measurements:
            measure = {
                "retrieval": self._retrieval,
                "linear_probe": self._linear_probe,
                "alignment_effect": self._alignment,
                "meta_categories": self._meta_categories,
                "feature_robustness": self._robustness,
            }[case.task]
            self._measurements[case.id] = measure(case)
        return self._measurements[case.id]

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- the measurements ------------------------------------------------------------------

    def _asked(self, case: MachineCase, protocol: str) -> Asked:
        ds = self.session.dataset(case.dataset)
        return Asked(
            dataset=ds.name,
            dataset_hash=ds.index_hash,
            templates="-",
            scoring=protocol,
            limit=None,
            seed=self.session.options.seed,
        )

    def _ids_and_names(self, dataset: str) -> tuple[list[str], list[str]]:
        samples = self.session.dataset(dataset).split("test")
        return [s.id for s in samples], [s.category_name for s in samples]

    def _retrieval(self, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.retrieval import retrieval_metrics

        train = self.features(case.dataset, "train")
        test = self.features(case.dataset, "test")
        if RETRIEVAL_VIEW not in train:
            raise ConfigError(f"the model's features have no {RETRIEVAL_VIEW!r} view")
        ytr, _ = self.labels(case.dataset, "train")
        yte, _ = self.labels(case.dataset, "test")
        r = retrieval_metrics(test[RETRIEVAL_VIEW], yte, train[RETRIEVAL_VIEW], ytr, ks=RECALL_KS)
        ids, names = self._ids_and_names(case.dataset)
        valid = np.flatnonzero(r.valid)
        outcomes = tuple(
            Outcome(
                question_id=ids[i],
                correct=bool(r.hits[1][i]),
                response=f"AP {r.ap[i]:.4f}",
                how="retrieval",
                category=names[i],
                score=float(r.ap[i]),
            )
            for i in valid
        )
        low, high = bootstrap_interval(r.ap[valid], stable_seed(case.dataset, case.task))
        props: dict[str, Any] = {"mAP": 100 * r.mean_ap if valid.size else 0.0}
        for k in RECALL_KS:
            props[f"recall@{k}"] = 100 * r.recall(k) if valid.size else 0.0
        props.update(
            view=RETRIEVAL_VIEW,
            gallery=len(ytr),
            queries_without_positive=r.without_positive,
            interval_method="percentile bootstrap of per-query AP",
        )
        return Measurement(
            case_id=case.id,
            dataset=case.dataset,
            task=case.task,
            facet=RETRIEVAL_VIEW,
            qtype="test-vs-train",
            metric="mAP",
            value=props["mAP"],
            n=len(outcomes),
            low=low,
            high=high,
            unparsed_rate=0.0,
            errors=0,
            outcomes=outcomes,
            asked=self._asked(case, f"retrieval:{RETRIEVAL_VIEW};cosine;test-vs-train"),
            details={
                "per_query": [(o.question_id, o.score) for o in outcomes],
                "properties": props,
            },
        )

    def _sample_measurement(
        self,
        case: MachineCase,
        per_sample: np.ndarray,
        *,
        multilabel: bool,
        value: float,
        protocol: str,
        props: dict[str, Any],
        facet: str,
        predictions: np.ndarray | None = None,
    ) -> Measurement:
        """A measurement from per-test-image outcomes: correctness, or AP over labels.

        ``value`` is a fraction (0–1); single-label cases get a Wilson interval and the
        gate pairs their correctness (McNemar); multi-label ones a bootstrap interval and
        per-image AP as paired values.
        """
        from pytest_fgbmk.scoring import wilson

        ids, names = self._ids_and_names(case.dataset)
        per = np.asarray(per_sample, dtype=float)
        keep = np.flatnonzero(~np.isnan(per))
        if multilabel:
            responses = [f"AP {per[i]:.4f}" for i in range(len(per))]
        elif predictions is not None:
            responses = [f"predicted {int(p)}" for p in predictions]
        else:
            responses = ["right" if x else "wrong" for x in per]
        outcomes = tuple(
            Outcome(
                question_id=ids[i],
                correct=bool(per[i] >= 1.0),
                response=responses[i],
                how=case.task,
                category=names[i],
                score=float(per[i]),
            )
            for i in keep
        )
        details: dict[str, Any] = {"properties": props}
        if multilabel:
            low, high = bootstrap_interval(per[keep], stable_seed(case.dataset, case.task))
            details["per_query"] = [(o.question_id, o.score) for o in outcomes]
        else:
            low, high = wilson(int(per[keep].sum()), int(keep.size))
        return Measurement(
            case_id=case.id,
            dataset=case.dataset,
            task=case.task,
            facet=facet,
            qtype="linear-probe",
            metric="label_mAP" if multilabel else "top1",
            value=100 * value,
            n=len(outcomes),
            low=low,
            high=high,
            unparsed_rate=0.0,
            errors=0,
            outcomes=outcomes,
            asked=self._asked(case, protocol),
            details=details,
        )

    def _probe_props(self, result: ProbeResult) -> dict[str, Any]:
        h = result.head
        return {
            "top1": 100 * result.top1,
            "mean_per_class": 100 * result.mean_per_class,
            "view": h.view,
            "lr": f"{h.lr:.3g}",
            "weight_decay": f"{h.weight_decay:.3g}",
            "val_score": 100 * max(result.val_scores.values()),
            "n_fit": result.n_fit,
            "n_val": result.n_val,
        }

    def _probe_case(
        self,
        case: MachineCase,
        result: ProbeResult,
        protocol: str,
        props: dict[str, Any],
        facet: str,
    ) -> Measurement:
        return self._sample_measurement(
            case,
            result.per_sample,
            multilabel=result.head.multilabel,
            value=result.top1,
            protocol=protocol,
            props=props,
            facet=facet,
            predictions=None if result.head.multilabel else result.predictions,
        )

    def _linear_probe(self, case: MachineCase) -> Measurement:
        result = self.probe(case.dataset)
        ytr, _ = self.labels(case.dataset, "train")
        protocol = "probe:" + self.settings(ytr).key()
        return self._probe_case(case, result, protocol, self._probe_props(result), result.head.view)

    def _alignment(self, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.alignment import alignment_effect

        ytr, c = self.labels(case.dataset, "train")
        yte, _ = self.labels(case.dataset, "test")
        effect = alignment_effect(
            self.features(case.dataset, "train"),
            ytr,
            self.features(case.dataset, "test"),
            yte,
            n_classes=c,
            settings=self.settings(ytr),
        )
        props = {
            "aligned_top1": 100 * effect.aligned.top1,
            "origin_top1": 100 * effect.origin.top1,
            "delta": 100 * effect.delta,
            "origin_view": effect.origin.head.view,
        }
        protocol = "alignment:" + self.settings(ytr).key()
        return self._probe_case(case, effect.aligned, protocol, props, "aligned")

    def meta_names(self) -> list[str]:
        """The datasets combined across meta-categories: every selected single-label one."""
        data = self.session.load_data()
        return [n for n, d in data.datasets.items() if not d.multilabel and not _split_problem(d)]

    def _meta_categories(self, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.meta import ProbeTask, across_meta_categories

        names = self.meta_names()
        tasks = []
        for n in names:
            ytr, c = self.labels(n, "train")
            yte, _ = self.labels(n, "test")
            tasks.append(ProbeTask(n, self.views(n, "train"), ytr, self.views(n, "test"), yte, c))
        # the largest class decides the validation fraction; offsets keep classes apart
        offsets = np.cumsum([0] + [t.n_classes for t in tasks])
        union = np.concatenate([t.train_labels + offsets[i] for i, t in enumerate(tasks)])
        settings = self.settings(union)
        if self._meta is None:
            self._meta = across_meta_categories(tasks, settings=settings)
        outcome = self._meta[case.dataset]
        hashes = self.session.load_data().datasets
        combined = "+".join(f"{n}@{hashes[n].index_hash[:12]}" for n in names)
        props = {
            "single_top1": 100 * outcome.single_top1,
            "multiple_top1": 100 * outcome.multiple_top1,
            "drop": 100 * outcome.drop,
            "datasets": ",".join(names),
            "union_classes": int(offsets[-1]),
        }
        return self._sample_measurement(
            case,
            outcome.multiple_correct,
            multilabel=False,
            value=outcome.multiple_top1,
            protocol=f"meta:{combined};probe:{settings.key()}",
            props=props,
            facet="union",
        )

    def _robustness(self, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.robustness import DEFAULT_EPS, DEFAULT_STEPS, feature_robustness

        result = self.probe(case.dataset, case.level, robustness=True)
        head = result.head
        yte, _ = self.labels(case.dataset, "test", case.level)
        radii = tuple(sorted({*DEFAULT_EPS, DEFAULT_EPS_REL}))
        rob = feature_robustness(
            head,
            self.views(case.dataset, "test")[head.view],
            yte,
            eps_rel=radii,
            norm=ROBUSTNESS_NORM,
            steps=DEFAULT_STEPS,
            seed=self.session.options.seed,
        )
        props = {
            "clean_top1": 100 * rob.clean_top1,
            "perturbed_top1": 100 * rob.top1(DEFAULT_EPS_REL),
            "drop": 100 * rob.drop(DEFAULT_EPS_REL),
            "eps_rel": f"{DEFAULT_EPS_REL:g}",
            "eps_abs": f"{rob.eps_abs[radii.index(DEFAULT_EPS_REL)]:.4g}",
            "norm": ROBUSTNESS_NORM,
            "level": case.level or _finest(self.session.dataset(case.dataset)),
            "view": head.view,
            "curve": json.dumps({f"{e:g}": round(100 * rob.top1(e), 2) for e in radii}),
        }
        ytr, _ = self.labels(case.dataset, "train", case.level)
        protocol = (
            f"pgd:{ROBUSTNESS_NORM};eps={DEFAULT_EPS_REL:g};steps={DEFAULT_STEPS};"
            f"level={case.level or '-'};probe:{self.settings(ytr, robustness=True).key()}"
        )
        return self._sample_measurement(
            case,
            rob.correct[DEFAULT_EPS_REL],
            multilabel=False,
            value=rob.top1(DEFAULT_EPS_REL),
            protocol=protocol,
            props=props,
            facet=case.level or _finest(self.session.dataset(case.dataset)),
        )


def _split_problem(ds: Dataset) -> str | None:
    missing = [s for s in ("train", "test") if not ds.split(s)]
    if missing:
        return (
            f"dataset {ds.name} has no {' and no '.join(missing)} split "
            "(machine-oriented cases probe on train and measure on test)"
        )
    return None


def _finest(ds: Dataset) -> str:
    return ds.levels[-1] if ds.levels else "category"
