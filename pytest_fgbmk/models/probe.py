"""``probe:ENCODER`` — answers the human-oriented questions with linear heads on frozen features.

The paper's "LC" row as a question-answerer. :meth:`ProbeModel.prepare` encodes each
dataset's train split with the encoder (``cls`` view, L2-normalised) and fits, per
dataset:

* one softmax head per taxonomy level (over that level's names);
* one one-vs-rest logistic head per attribute group (multi-label: a sigmoid per value;
  positives are the values annotated at least ``probe_min_certainty``, 3 = "probably").

Heads are L2-regularised linear models fitted by full-batch L-BFGS-B from zero (so the fit
is deterministic); each is a :class:`NamedHead`, the shared
:class:`~pytest_fgbmk.machine.linear_head.LinearHead` plus the names of its outputs.

Train features come from the machine feature store
(:func:`~pytest_fgbmk.machine.features.extract_features` into a
:class:`~pytest_fgbmk.machine.feature_store.FeatureStore`), keyed by the *encoder's*
fingerprint: the model's own :attr:`ProbeModel.features_fingerprint` is the encoder's, so
the machine cases, which encode through this model, read the same entries, and a run
encodes each train image once when the run hands the model its store
(:meth:`ProbeModel.use_feature_store`). Without one the store lives under
``platformdirs.user_cache_dir("pytest-fgbmk")/probe/`` (or model arg ``cache_dir``). Heads
are cached there too, keyed by the probe's fingerprint and the dataset's ``index_hash``: a
rerun encodes and fits nothing. The store is chunked, so an interrupted run resumes.

Answers (the question's ``truth`` is never read): true/false → ``"yes"`` when the asked
name is the level head's top prediction (for an attribute: when the asked value's
probability is at least 0.5), else ``"no"``; multiple-choice → the option the head scores
highest (an option it never saw scores lowest); short answer → the head's top name.
Knowledge-bias questions use the finest level's head.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import torch

from pytest_fgbmk.data.records import CERTAINTY_PROBABLY, Dataset, Sample
from pytest_fgbmk.errors import ConfigError, ModelError, UnknownModelArg
from pytest_fgbmk.hashing import sha256_hex
from pytest_fgbmk.machine.feature_store import FeatureStore
from pytest_fgbmk.machine.features import extract_features
from pytest_fgbmk.machine.linear_head import LinearHead
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.progress import Progress, ProgressOutput, as_output
from pytest_fgbmk.task_names import ATTRIBUTE, KNOWLEDGE_BIAS

if TYPE_CHECKING:
    from PIL import Image

    from pytest_fgbmk.questions.records import Question

#: Bumped whenever fitting changes what a head predicts (part of the fingerprint).
HEAD_VERSION = "lbfgsb-v1"
#: Model args the probe reads itself (not passed on to the encoder).
PROBE_KEYS = ("cache_dir", "probe_l2", "probe_max_iter", "probe_min_certainty")
DEFAULT_L2 = 1e-4
DEFAULT_MAX_ITER = 100
#: Rows per resumable chunk of the model's own feature store (when the run hands none).
ENCODE_CHUNK = 256
FEATURE_CACHE_SIZE = 20_000


@dataclass(frozen=True)
class NamedHead:
    """A fitted head of one facet: output ``j`` scores ``names[j]``.

    ``linear``: the head (``weight`` (D, C), ``bias`` (C,), ``multilabel``) over normalised
    ``cls`` features (D); ``facet``: the taxonomy level or attribute group it answers.
    """

    facet: str
    names: tuple[str, ...]
    linear: LinearHead

    @property
    def multilabel(self) -> bool:
        return self.linear.multilabel

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C) class probabilities (softmax) or per-value probabilities (sigmoid)."""
        return self.linear.probabilities(features)

    def to_state(self) -> dict:
        """A ``torch.save``-able dict (the on-disk format of the heads cache)."""
        return {
            "facet": self.facet,
            "names": list(self.names),
            "weight": self.linear.weight,
            "bias": self.linear.bias,
            "multilabel": self.multilabel,
        }

    @classmethod
    def from_state(cls, state: dict) -> NamedHead:
        """The head saved by :meth:`to_state`."""
        linear = LinearHead(state["weight"], state["bias"], bool(state["multilabel"]))
        return cls(state["facet"], tuple(state["names"]), linear)


@dataclass(frozen=True)
class DatasetHeads:
    """A dataset's heads: one per taxonomy level (coarse → fine) and per attribute group."""

    levels: dict[str, NamedHead]
    attributes: dict[str, NamedHead]
    finest: str

    def head_for(self, question: Question) -> NamedHead:
        if question.task == KNOWLEDGE_BIAS:
            return self._level(self.finest, question)
        if question.task == ATTRIBUTE:
            if question.facet not in self.attributes:
                raise ModelError(
                    f"probe: dataset {question.dataset!r} has no training annotations for the "
                    f"attribute group {question.facet!r} (question {question.id})"
                )
            return self.attributes[question.facet]
        facet = self.finest if question.facet == "category" else question.facet
        return self._level(facet, question)

    def _level(self, facet: str, question: Question) -> NamedHead:
        if facet not in self.levels:
            raise ModelError(
                f"probe: dataset {question.dataset!r} has no taxonomy level {facet!r} with "
                f"training labels (levels: {', '.join(self.levels)}; question {question.id})"
            )
        return self.levels[facet]


def fit_linear(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    multilabel: bool,
    l2: float = DEFAULT_L2,
    max_iter: int = DEFAULT_MAX_ITER,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit an L2-regularised linear classifier; returns (weight (D, C), bias (C,)).

    Minimises mean cross-entropy (softmax; ``y`` holds class indices) or mean summed binary
    cross-entropy (``multilabel``; ``y`` is a (N, C) 0/1 matrix) plus ``l2 / 2 * |W|²`` (the
    bias is not penalised) — scikit-learn's ``LogisticRegression(C=1 / (l2 * N))`` — with
    SciPy's L-BFGS-B from zero, in float64: deterministic.
    """
    from scipy.optimize import minimize

    xs = x.detach().cpu().numpy().astype(np.float64)
    n, d = xs.shape
    if multilabel:
        target = y.detach().cpu().numpy().astype(np.float64)
        c = target.shape[1]
    else:
        labels = y.detach().cpu().numpy().astype(np.int64)
        c = int(labels.max()) + 1
        target = np.zeros((n, c))
        target[np.arange(n), labels] = 1.0

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * c].reshape(d, c), theta[d * c :]
        z = xs @ w + b
        if multilabel:
            loss = float((np.logaddexp(0.0, z) - target * z).sum()) / n
            p = 0.5 * (1.0 + np.tanh(0.5 * z))  # a sigmoid that never overflows
        else:
            z = z - z.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = float(-(target * (z - log_norm)).sum()) / n
            p = np.exp(z - log_norm)
        diff = (p - target) / n
        loss += 0.5 * l2 * float((w * w).sum())
        grad = np.concatenate([(xs.T @ diff + l2 * w).ravel(), diff.sum(axis=0)])
        return loss, grad

    result = minimize(
        loss_and_grad,
        np.zeros(d * c + c),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-8, "ftol": 1e-12},
    )
    theta = result.x
    weight = torch.from_numpy(theta[: d * c].reshape(d, c).astype(np.float32))
    return weight, torch.from_numpy(theta[d * c :].astype(np.float32))


def normalise(features: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (a zero row stays zero)."""
    return torch.nn.functional.normalize(features.float(), dim=-1)


class ProbeModel(ModelAdapter):
    """Linear heads over a frozen encoder's features, answering FG-BMK's questions."""

    can_answer = True
    #: The heads' fit and the encoder's features (``blocks``) change with these.
    recorded_args = (*(k for k in PROBE_KEYS if k != "cache_dir"), "blocks")
    implementation = f"probe_head={HEAD_VERSION}"

    def __init__(
        self,
        encoder: ModelAdapter,
        options: ModelOptions | None = None,
        *,
        progress: ProgressOutput | TextIO | None = None,
        feature_store: FeatureStore | None = None,
    ) -> None:
        """``progress``: where encoding and fitting progress goes (stderr by default; a
        text stream is accepted); ``feature_store``: where train features are read and
        written (default: under the cache folder, see the module docstring)."""
        if not encoder.can_encode:
            raise ModelError(
                f"probe: {encoder.name!r} cannot encode images; the probe needs a vision "
                "encoder (e.g. probe:efficientnet-lite0)"
            )
        options = options or ModelOptions()
        extra = options.extra
        self.encoder = encoder
        self.name = f"probe:{encoder.name}"
        self.can_encode = True
        self.l2 = _number(extra.get("probe_l2", DEFAULT_L2), "probe_l2", float)
        self.max_iter = _number(
            extra.get("probe_max_iter", DEFAULT_MAX_ITER), "probe_max_iter", int
        )
        self.min_certainty = _number(
            extra.get("probe_min_certainty", CERTAINTY_PROBABLY), "probe_min_certainty", int
        )
        self.cache_root = (
            Path(extra.get("cache_dir") or _default_cache_dir()).expanduser() / "probe"
        )
        self._progress: ProgressOutput | TextIO | None = (
            progress if progress is not None else sys.stderr
        )
        self._store = feature_store
        self._heads: dict[str, DatasetHeads] = {}
        self._features: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()

    @property
    def fingerprint(self) -> str:
        hyper = f"l2={self.l2};it={self.max_iter};cert={self.min_certainty}"
        return f"probe:{self.encoder.fingerprint}:{HEAD_VERSION}:{hyper}"

    @property
    def features_fingerprint(self) -> str:
        """The encoder's: this model's features are exactly its encoder's, so feature caches
        key on the encoder and the machine cases share the entries the heads were fitted on."""
        return self.encoder.features_fingerprint

    @property
    def preprocessing(self):
        return self.encoder.preprocessing

    def use_feature_store(self, store: FeatureStore) -> None:
        """Read and write train features in ``store`` (the run passes the store its machine
        cases use, so each train image is encoded once per run)."""
        self._store = store

    def use_progress(self, output: ProgressOutput | None) -> None:
        """Report encoding and fitting to ``output`` (None: silent)."""
        self._progress = output

    def feature_store(self) -> FeatureStore:
        """The store train features go through (see :meth:`use_feature_store`)."""
        if self._store is None:
            self._store = FeatureStore(self.cache_root, chunk_rows=ENCODE_CHUNK)
        return self._store

    def encode(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        return self.encoder.encode(images)

    def encode_stages(self):
        return self.encoder.encode_stages()

    def close(self) -> None:
        self.encoder.close()

    # -- fitting -----------------------------------------------------------------------

    def prepare_images(self, dataset: Dataset) -> Sequence[Sample]:
        """The train split: its features fit the heads (encoded unless the store has them)."""
        return dataset.split("train")

    def prepare(self, datasets: Sequence[Dataset]) -> None:
        for ds in datasets:
            if ds.name not in self._heads:
                self._heads[ds.name] = self._heads_for(ds)

    def heads(self, dataset_name: str) -> DatasetHeads:
        """The fitted heads of a prepared dataset."""
        if dataset_name not in self._heads:
            raise ModelError(
                f"probe: dataset {dataset_name!r} was not prepared; call prepare([dataset]) "
                "before answering its questions"
            )
        return self._heads[dataset_name]

    def _cache_dir(self) -> Path:
        return self.cache_root / sha256_hex(self.fingerprint, 20)

    def _heads_for(self, ds: Dataset) -> DatasetHeads:
        stem = self._cache_dir() / f"{_safe(ds.name)}-{ds.index_hash}"
        heads_file = stem.with_suffix(".heads.pt")
        if heads_file.is_file():
            return _heads_from_state(torch.load(heads_file, weights_only=True))
        train = ds.split("train")
        if not train:
            raise ModelError(
                f"probe: dataset {ds.name!r} has no train split; the probe fits its heads on "
                "the training images (use a dataset layout with a train split)"
            )
        features = normalise(self._train_features(ds))
        heads = self._fit(ds, train, features)
        _save_atomic(_heads_to_state(heads), heads_file)
        return heads

    def _train_features(self, ds: Dataset) -> torch.Tensor:
        """The encoder's ``cls`` features (N, D) of the train split, through the feature store
        (cached and resumable by chunk)."""
        views = extract_features(
            self.encoder,
            ds,
            "train",
            self.feature_store(),
            progress=self._progress,
            label=f"probe: encoding {ds.name} train split",
        )
        return views["cls"].float()

    def _fit(self, ds: Dataset, train: Sequence[Sample], x: torch.Tensor) -> DatasetHeads:
        from pytest_fgbmk.questions.generate import dataset_levels, sample_path

        levels = dataset_levels(ds)
        paths = [sample_path(ds, s) for s in train]
        fitted: dict[str, NamedHead] = {}
        bar = Progress(
            as_output(self._progress),
            f"probe: fitting {ds.name} heads",
            len(levels) + len(ds.attribute_groups),
            "heads",
        )
        for li, level in enumerate(levels):
            bar.update()
            rows = [i for i, p in enumerate(paths) if p[li]]
            if not rows:
                continue
            names = tuple(sorted({paths[i][li] for i in rows}))
            index = {name: j for j, name in enumerate(names)}
            y = torch.tensor([index[paths[i][li]] for i in rows])
            w, b = self._fit_one(x[rows], y, multilabel=False, n_classes=len(names))
            fitted[level] = NamedHead(level, names, LinearHead(w, b, multilabel=False))
        attrs: dict[str, NamedHead] = {}
        for group in ds.attribute_groups:
            bar.update()
            rows, targets = [], []
            for i, s in enumerate(train):
                if not any(a.group == group.name for a in s.annotations):
                    continue
                held = s.attribute_values(self.min_certainty).get(group.name, frozenset())
                rows.append(i)
                targets.append([1.0 if v in held else 0.0 for v in group.values])
            if not rows or not group.values:
                continue
            w, b = self._fit_one(
                x[rows], torch.tensor(targets), multilabel=True, n_classes=len(group.values)
            )
            attrs[group.name] = NamedHead(
                group.name, tuple(group.values), LinearHead(w, b, multilabel=True)
            )
        bar.close()
        return DatasetHeads(fitted, attrs, levels[-1])

    def _fit_one(
        self, x: torch.Tensor, y: torch.Tensor, *, multilabel: bool, n_classes: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not multilabel and n_classes == 1:  # nothing to separate: always that class
            return torch.zeros(x.shape[1], 1), torch.zeros(1)
        return fit_linear(x, y, multilabel=multilabel, l2=self.l2, max_iter=self.max_iter)

    # -- answering ---------------------------------------------------------------------

    def answer(self, requests: Sequence[AnswerRequest], settings: GenerationSettings) -> list[str]:
        questions = []
        for r in requests:
            if r.question is None:
                raise ModelError("probe: every request must carry its question record")
            self.heads(r.question.dataset)
            questions.append(r.question)
        features = self._request_features(requests, questions)
        return [
            _answer_one(q, self.heads(q.dataset), f)
            for q, f in zip(questions, features, strict=True)
        ]

    def _request_features(
        self, requests: Sequence[AnswerRequest], questions: Sequence[Question]
    ) -> list[torch.Tensor]:
        """Normalised ``cls`` features per request; each distinct image is encoded once."""
        keys = [(q.dataset, q.image) for q in questions]
        missing: dict[tuple[str, str], Image.Image] = {}
        for key, r in zip(keys, requests, strict=True):
            if key not in self._features and key not in missing:
                missing[key] = r.image
        if missing:
            encoded = normalise(self.encoder.encode(list(missing.values()))["cls"])
            for key, feat in zip(missing, encoded, strict=True):
                self._features[key] = feat
        out = []
        for key in keys:
            self._features.move_to_end(key)
            out.append(self._features[key])
        while len(self._features) > max(FEATURE_CACHE_SIZE, len(set(keys))):
            self._features.popitem(last=False)
        return out


def _answer_one(q: Question, heads: DatasetHeads, feature: torch.Tensor) -> str:
    head = heads.head_for(q)
    probs = head.probabilities(feature.unsqueeze(0))[0]
    by_name = {_key(n): float(p) for n, p in zip(head.names, probs, strict=True)}
    if q.qtype == "tf":
        asked = by_name.get(_key(q.asked))
        if asked is None:
            return "no"
        if head.multilabel:
            return "yes" if asked >= 0.5 else "no"
        return "yes" if _key(q.asked) == _key(head.names[int(probs.argmax())]) else "no"
    if q.qtype == "mc":
        if not q.options:
            raise ModelError(f"probe: multiple-choice question {q.id} has no options")
        scores = [by_name.get(_key(o), float("-inf")) for o in q.options]
        return q.options[max(range(len(scores)), key=scores.__getitem__)]
    return head.names[int(probs.argmax())]


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").casefold().split())


def _heads_to_state(heads: DatasetHeads) -> dict:
    return {
        "version": HEAD_VERSION,
        "finest": heads.finest,
        "levels": [h.to_state() for h in heads.levels.values()],
        "attributes": [h.to_state() for h in heads.attributes.values()],
    }


def _heads_from_state(state: dict) -> DatasetHeads:
    levels = [NamedHead.from_state(s) for s in state["levels"]]
    attrs = [NamedHead.from_state(s) for s in state["attributes"]]
    return DatasetHeads({h.facet: h for h in levels}, {h.facet: h for h in attrs}, state["finest"])


def _save_atomic(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def _default_cache_dir() -> str:
    import platformdirs

    return platformdirs.user_cache_dir("pytest-fgbmk")


def _number(raw: object, option: str, kind: Callable[[str], float | int]):
    try:
        value = kind(str(raw))
    except ValueError:
        raise ConfigError(f"model arg {option}={raw!r} must be a number") from None
    if value < 0 or (option != "probe_l2" and value < 1):
        raise ConfigError(f"model arg {option}={raw!r} is out of range")
    return value


def load_probe(target: str, options: ModelOptions) -> ProbeModel:
    """``probe:ENCODER_SPEC``: load the encoder through the registry, wrap it in the probe."""
    from pytest_fgbmk.models.registry import load_model_with_options

    extra = {k: v for k, v in options.extra.items() if k not in PROBE_KEYS}
    try:
        encoder = load_model_with_options(target, dataclasses.replace(options, extra=extra))
    except UnknownModelArg as exc:
        raise UnknownModelArg(f"{exc}; probe: also accepts {', '.join(PROBE_KEYS)}") from None
    return ProbeModel(encoder, options)
