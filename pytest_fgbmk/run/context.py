"""What every task of a run draws on: datasets, model, engine and answers, features and probes.

One :class:`RunContext` per process. Everything is made on first use and kept for the run:
the model is loaded once, each case's questions are built once, each question is answered
once (answer cache first), each dataset split's features are extracted once (feature store
first), each probe is trained once. The tasks (:mod:`pytest_fgbmk.tasks`) measure cases from
these; nothing here knows a task or pytest.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_fgbmk.engine import DEFAULT_BATCH_SIZE, Answer, Engine, EngineStats, jobs_for
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.gc_pause import collector_paused
from pytest_fgbmk.run.data import DataState, load_data
from pytest_fgbmk.run.options import NO_MODEL_REASON, RunOptions

if TYPE_CHECKING:
    import torch

    from pytest_fgbmk.data.records import Dataset
    from pytest_fgbmk.judge import Judge
    from pytest_fgbmk.machine.features import ExtractionStats
    from pytest_fgbmk.machine.probe import ProbeResult, ProbeSettings
    from pytest_fgbmk.models.base import GenerationSettings, ModelAdapter
    from pytest_fgbmk.progress import ProgressOutput
    from pytest_fgbmk.questions.cases import Case
    from pytest_fgbmk.questions.records import Question

#: Below this many training images in the largest class, the validation fraction rises.
VAL_MIN_CLASS = 8


def val_fraction(train_labels: np.ndarray, base: float = 0.1) -> float:
    """The probe's validation fraction: 10 % of each class (DINOv2), raised for tiny sets.

    When no class has :data:`VAL_MIN_CLASS` training images (10 % would round to nothing)
    it rises to ``0.75 / largest class`` (at most 0.5), so every class of the largest size
    gives one image and a tiny dataset is still measured.
    """
    keys = train_labels if train_labels.ndim == 1 else train_labels.argmax(1)
    if keys.size == 0:
        return base
    largest = int(np.bincount(keys).max())
    return base if largest >= VAL_MIN_CLASS else min(0.5, 0.75 / max(largest, 1))


def level_labels(dataset: Dataset, split: str, level: str) -> tuple[np.ndarray, int]:
    """Class indices of ``split`` at taxonomy ``level`` (sorted names), and the class count."""
    i = dataset.levels.index(level)
    names = sorted({c.taxonomy[i] for c in dataset.categories})
    index = {n: k for k, n in enumerate(names)}
    y = [index[dataset.categories[s.category].taxonomy[i]] for s in dataset.split(split)]
    return np.array(y, dtype=np.int64), len(names)


class RunContext:
    """One process's resources for a run (see the module docstring).

    ``progress``: where long steps report (answering, feature extraction); None is silent.
    """

    def __init__(self, options: RunOptions, *, progress: ProgressOutput | None = None) -> None:
        options.validate()
        self.options = options
        self.progress = progress
        self._data: DataState | None = None
        self._questions: dict[str, tuple[Question, ...]] = {}
        self._answers: dict[str, Answer] = {}
        self._model: ModelAdapter | None = None
        self._judge: Judge | None = None
        self._model_args: dict[str, Any] | None = None
        self._prepared: set[str] = set()
        self._engine: Engine | None = None
        self._cache: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._features: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
        self._probes: dict[tuple[str, str | None, bool], ProbeResult] = {}
        self.shared: dict[str, Any] = {}
        self.stats = EngineStats()
        self.extraction_stats: list[tuple[str, ExtractionStats]] = []

    # -- data ----------------------------------------------------------------------

    @property
    def data_loaded(self) -> bool:
        return self._data is not None

    def data(self) -> DataState:
        """The run's datasets (metadata only), loaded on first use."""
        if self._data is None:
            with collector_paused():  # millions of long-lived records (pytest_fgbmk.gc_pause)
                self._data = load_data(self.options, progress=self.progress)
        return self._data

    def dataset(self, name: str) -> Dataset:
        return self.data().datasets[name]

    # -- model ---------------------------------------------------------------------

    def model_args(self) -> dict[str, Any]:
        """The model's arguments: the args file, then ``k=v`` pairs, then dedicated options."""
        if self._model_args is None:
            from pytest_fgbmk.models.args import parse_model_args

            args = dict(
                parse_model_args(list(self.options.model_args), self.options.model_args_file)
            )
            if self.options.dtype is not None:
                args["dtype"] = self.options.dtype
            if self.options.batch_size is not None:
                args["batch_size"] = str(self.options.batch_size)
            device = worker_device(
                self.options.device or args.get("device"), self.options.worker_index
            )
            if device is not None:
                args["device"] = device
            self._model_args = args
        return self._model_args

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def model(self) -> ModelAdapter:
        """The model adapter, loaded once per process."""
        if self._model is None:
            if not self.options.model:
                raise ConfigError(NO_MODEL_REASON)
            from pytest_fgbmk.machine.feature_store import FeatureStore
            from pytest_fgbmk.models.registry import load_model

            model = load_model(self.options.model, **self.model_args())
            # a model that encodes for itself (probe:) shares the machine cases' features
            model.use_feature_store(FeatureStore(self.store_root()))
            model.use_progress(self.progress)
            self._model = model
        return self._model

    def settings(self) -> GenerationSettings:
        from pytest_fgbmk.models.base import GenerationSettings
        from pytest_fgbmk.models.options import ModelOptions

        opts = ModelOptions.from_mapping(self.model_args(), source="--fgbmk-model-arg")
        return GenerationSettings(
            max_new_tokens=opts.max_new_tokens, system_prompt=opts.system_prompt
        )

    def model_settings(self, *, answers: bool) -> str:
        """What a baseline records of the model's settings besides its weights (for a human
        case when ``answers``, else for a machine case): :meth:`ModelOptions.recorded` with
        the loaded model's :attr:`~pytest_fgbmk.models.base.ModelAdapter.recorded_args`, then
        its :attr:`~pytest_fgbmk.models.base.ModelAdapter.implementation` (a built-in's)."""
        from pytest_fgbmk.models.options import ModelOptions

        opts = ModelOptions.from_mapping(self.model_args(), source="--fgbmk-model-arg")
        model = self.model()
        settings = opts.recorded(model.recorded_args, answers=answers)
        return f"{settings};{model.implementation}" if model.implementation else settings

    # -- questions and answers -------------------------------------------------------

    def questions(self, case: Case) -> tuple[Question, ...]:
        """The questions of one human-oriented case (deterministic, built on first use)."""
        if case.id not in self._questions:
            from pytest_fgbmk.questions.cases import build_questions

            self._questions[case.id] = build_questions(
                self.dataset(case.dataset),
                case,
                templates=self.options.templates,
                limit=self.options.limit,
                seed=self.options.seed,
            )
        return self._questions[case.id]

    def engine(self) -> Engine:
        if self._engine is None:
            from pytest_fgbmk.cache import open_cache

            self._cache = open_cache(self.options.cache)
            self._engine = Engine(
                self.model(),
                self.settings(),
                self._cache,
                batch_size=self.options.batch_size or DEFAULT_BATCH_SIZE,
                progress=self.progress,
            )
        return self._engine

    def prepare(self, dataset_names: Sequence[str]) -> None:
        """Call the model's ``prepare`` once with every dataset it will be asked about."""
        todo = [n for n in dict.fromkeys(dataset_names) if n not in self._prepared]
        if todo:
            self.model().prepare([self.dataset(n) for n in todo])
            self._prepared.update(todo)

    def answer(self, cases: Sequence[Case]) -> None:
        """Answer the questions of ``cases`` not yet answered in this process, in one run."""
        pending = [c for c in cases if any(q.id not in self._answers for q in self.questions(c))]
        if not pending:
            return
        self.prepare([c.dataset for c in pending])
        jobs = []
        for case in pending:
            jobs.extend(jobs_for(self.dataset(case.dataset), self.questions(case)))
        engine = self.engine()
        self._answers.update(engine.run(jobs))
        self.stats = engine.stats

    def answers(self) -> dict[str, Answer]:
        """Every answer of this process, by question id."""
        return self._answers

    # -- the judge -------------------------------------------------------------------

    @property
    def judge_loaded(self) -> bool:
        return self._judge is not None

    def judge(self) -> Judge | None:
        """The ``--fgbmk-judge`` model (loaded once per process), or None when no judge
        is on (always None in ``official`` scoring: :meth:`RunOptions.validate` refuses
        the pair)."""
        if not self.options.judge or self.options.scoring != "strict":
            return None
        if self._judge is None:
            from pytest_fgbmk.judge import Judge
            from pytest_fgbmk.models.args import parse_model_args
            from pytest_fgbmk.models.registry import load_model

            try:
                args = parse_model_args(list(self.options.judge_args))
            except ConfigError as exc:
                raise ConfigError(
                    str(exc).replace("--fgbmk-model-arg", "--fgbmk-judge-arg")
                ) from None
            self.engine()  # the answer cache the verdicts are kept in
            self._judge = Judge(
                load_model(self.options.judge, **args),
                self._cache,
                batch_size=self.options.batch_size or DEFAULT_BATCH_SIZE,
            )
        return self._judge

    def judged(self, case: Case) -> dict[str, bool]:
        """The judge's right/wrong on the case's answers the rules could not decide, by
        question id (empty without a judge); call after :meth:`answer`."""
        judge = self.judge()
        if judge is None:
            return {}
        from pytest_fgbmk.judge import judge_answers

        return judge_answers(judge, self.questions(case), self._answers)

    # -- features and probes ---------------------------------------------------------

    def store_root(self) -> Path:
        """The feature store's folder: the cache folder, or a temporary one without cache."""
        cache = self.options.cache
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
            self._features[key] = extract_features(
                self.model(),
                self.dataset(dataset),
                split,
                FeatureStore(self.store_root()),
                batch_size=self.options.batch_size or 32,
                progress=self.progress,
                stats=stats,
                label=f"fgbmk features {dataset}/{split}:",
            )
            self.extraction_stats.append((f"{dataset}/{split}", stats))
            if self.progress is not None and not stats.computed_chunks:
                # (encoding reports its own progress lines, ending with a "done" line)
                n = len(self.dataset(dataset).split(split))
                self.progress.write(
                    f"fgbmk features {dataset}/{split}: {n} images, all from the feature cache"
                )
        return self._features[key]

    def views(self, dataset: str, split: str) -> dict[str, torch.Tensor]:
        """The DINOv2 probe views (``cls``, ``cls4``, ± mean patch) of a split's features."""
        from pytest_fgbmk.machine.probe import dinov2_views

        return dinov2_views(self.features(dataset, split))

    def labels(self, dataset: str, split: str, level: str | None = None) -> tuple[np.ndarray, int]:
        """Labels of a split (class indices, or a 0/1 matrix if multi-label) and the class count."""
        ds = self.dataset(dataset)
        if level is not None:
            return level_labels(ds, split, level)
        from pytest_fgbmk.machine.features import labels_of

        return labels_of(ds, split), len(ds.categories)

    def probe_settings(
        self, train_labels: np.ndarray, overrides: dict[str, Any] | None = None
    ) -> ProbeSettings:
        """The probe's settings for these training labels (``overrides`` for a task's own grid)."""
        from pytest_fgbmk.machine.probe import ProbeSettings

        return ProbeSettings(
            val_fraction=val_fraction(train_labels),
            seed=self.options.seed,
            **(overrides or {}),
        )

    def probe(
        self,
        dataset: str,
        level: str | None = None,
        overrides: dict[str, Any] | None = None,
        purpose: str = "probe",
    ) -> ProbeResult:
        """The dataset's linear probe (at a taxonomy level if given), trained once per settings.

        ``purpose`` names the probe in progress lines (``fgbmk probe synth_birds: …``).
        """
        key = (dataset, level, repr(sorted((overrides or {}).items())))
        if key not in self._probes:
            from pytest_fgbmk.machine.probe import train_probe

            ytr, c = self.labels(dataset, "train", level)
            yte, _ = self.labels(dataset, "test", level)
            where = dataset if level is None else f"{dataset}/{level}"
            self._probes[key] = train_probe(
                self.views(dataset, "train"),
                ytr,
                self.views(dataset, "test"),
                yte,
                n_classes=c,
                settings=self.probe_settings(ytr, overrides),
                progress=self.progress,
                label=f"fgbmk {purpose} {where}:",
            )
        return self._probes[key]

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
        if self._judge is not None:
            self._judge.model.close()
        if self._cache is not None:
            self._cache.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def worker_device(device: str | None, worker_index: int | None) -> str | None:
    """Under xdist each worker takes its own GPU: ``cuda:<worker index mod GPUs>``."""
    if worker_index is None or device not in (None, "auto", "cuda"):
        return device
    if not may_have_cuda():
        return device
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return device
    return f"cuda:{worker_index % count}"


def may_have_cuda() -> bool:
    """Cheap check before importing torch: a visible NVIDIA device or an explicit list."""
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return visible.strip() not in ("", "-1")
    return Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidia0").exists()
