"""Baseline storage on syrupy, and the gate bound to one test.

:class:`BaselineExtension` is a syrupy single-file extension: one JSON file per case under
``baselines/<alias>/<test module>/<test name>.json`` (not ``__snapshots__``), so syrupy's
``--snapshot-update`` writes them, ``-n N`` writes the same files as one process, and
syrupy reports baselines no case used any more. ``--fgbmk-update-baselines`` is the same
update without deleting the baselines of cases this run did not select.

:class:`SyrupyBaselineGate` is what the session holds; ``for_test(request)`` binds it to
one test: it reads the case's baseline, decides (the whole run's cases together on the
first call in a single process), and records the assertion with syrupy. The run's family
holds every gated case of both kinds: human-oriented (``fgbmk_case``) and machine-oriented
(``fgbmk_machine_case``), each measured through its own session when the family is decided.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

from pytest_fgbmk.baselines.gate import BaselineGate, Entry
from pytest_fgbmk.baselines.record import build_record, dump_record
from pytest_fgbmk.errors import ConfigError, FgbmkError
from pytest_fgbmk.gate import Verdict
from pytest_fgbmk.machine_session import MACHINE_ARG, MachineCase
from pytest_fgbmk.measurement import Measurement

CASE_ARG = "fgbmk_case"
#: The parameters a gated case comes in: human-oriented, then machine-oriented.
CASE_ARGS = (CASE_ARG, MACHINE_ARG)
UPDATE_FLAG = "--fgbmk-update-baselines"


class BaselineExtension(SingleFileSnapshotExtension):
    """JSON baselines under ``<root>/<alias>/<test module>/``; subclassed per run."""

    file_extension = "json"
    _write_mode = WriteMode.TEXT
    root = "baselines"
    alias = "default"

    def __init__(self) -> None:
        super().__init__()
        #: set by the gate before an assertion in check mode: the gate's decision
        self.verdict_ok: bool | None = None

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return dump_record(data) if isinstance(data, dict) else str(data)

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(Path(cls.root) / cls.alias / test_location.basename)

    def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
        if self.verdict_ok is not None:
            return self.verdict_ok
        return serialized_data == snapshot_data


def extension_for(root: Path, alias: str) -> type[BaselineExtension]:
    """The extension class storing under ``root/alias``."""
    return type("FgbmkBaselineExtension", (BaselineExtension,), {"root": str(root), "alias": alias})


def default_alias(model_spec: str) -> str:
    """The baseline alias of a model spec: ``oracle``, ``hf-llava-1.5``, ``probe-efficientnet-lite0``."""
    spec = model_spec.rstrip("/\\")
    prefix, sep, rest = spec.partition(":")
    if sep and ("/" in rest or "\\" in rest):
        spec = prefix + ":" + re.split(r"[/\\]", rest)[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", spec.replace(":", "-")).strip("-") or "model"


def check_alias(alias: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", alias) or alias in (".", ".."):
        raise ConfigError(
            f"--fgbmk-baseline-alias={alias!r}: use letters, digits, '.', '_' or '-' "
            "(it names the folder baselines/<alias>/)"
        )
    return alias


def parse_rate(value: Any, option: str, low: float, high: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}={value!r} is not a number") from None
    if not low <= x <= high:
        raise ConfigError(f"{option}={value!r} must be between {low:g} and {high:g}")
    return x


def update_command(invocation_args: tuple[str, ...] | list[str]) -> str:
    """The command that reruns this invocation and writes its baselines."""
    args = [a for a in invocation_args if a not in (UPDATE_FLAG, "--snapshot-update")]
    return "pytest " + " ".join(shlex.quote(str(a)) for a in [*args, UPDATE_FLAG])


def _item_case(item: Any) -> Any:
    """The case a collected test gates (human- or machine-oriented), or None."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or item.get_closest_marker("skip"):
        return None
    for arg in CASE_ARGS:
        case = callspec.params.get(arg)
        if case is not None and hasattr(case, "task"):
            return case
    return None


class CaseMeasures:
    """Measures a case of either kind for the run's family, and says whether it is gated.

    ``answers``: the session of human-oriented measurements; ``machine()``: the machine
    session (fetched on first need, so a run without machine cases never makes one).
    """

    def __init__(self, answers: Any, machine: Callable[[], Any]) -> None:
        self.answers = answers
        self._machine_of = machine
        self._machine: Any = None

    def machine(self) -> Any:
        if self._machine is None:
            self._machine = self._machine_of()
        return self._machine

    def gated(self, case: Any, *, look: bool = True) -> bool:
        """Whether ``case`` reaches the gate: the model has the capability it needs.

        ``look=False`` skips the one check that extracts features (an alignment case's
        ``aligned`` view) and counts such a case as gated (a conservative family size).
        """
        model = self.answers.model()
        if not isinstance(case, MachineCase):
            return bool(model.can_answer)
        if not model.can_encode:
            return False
        if case.task == "alignment_effect" and look:
            return self.machine().skip_reason(case) is None
        return True

    def __call__(self, case: Any) -> Measurement:
        if isinstance(case, MachineCase):
            return self.machine().measurement(case)
        return self.answers.measurement(case)


class SyrupyBaselineGate:
    """The session's gate: settings shared by every test, bound per test by ``for_test``."""

    def __init__(
        self,
        *,
        root: Path,
        alias: str,
        alpha: float = 0.01,
        min_drop: float = 1.0,
        update: bool = False,
        distributed: bool = False,
    ) -> None:
        self.extension = extension_for(root, check_alias(alias))
        self.alias = alias
        self.update = update
        self.distributed = distributed
        self.gate = BaselineGate(alpha=alpha, min_drop=min_drop)
        self._family_ready = False

    def for_test(self, request: Any) -> _BoundGate:
        return _BoundGate(self, request)

    def check(self, case_id: str, measurement: Any) -> Verdict:
        return Verdict(
            False,
            f"{case_id}: the baseline gate needs the test's request; use the fgbmk_gate fixture",
        )

    def prepare(self, request: Any, measure: CaseMeasures) -> None:
        """Once per process: size the family of every gated case (human- and
        machine-oriented); decide it together unless distributed or updating."""
        if self._family_ready:
            return
        self._family_ready = True
        gate = self.gate
        gate.update_command = update_command(tuple(request.config.invocation_params.args))
        look = not (self.distributed or self.update)
        items = []
        for item in request.session.items:
            case = _item_case(item)
            if case is None:
                continue
            try:
                if measure.gated(case, look=look):
                    items.append((item, case))
            except FgbmkError:
                continue
        gate.family_size = max(1, len(items))
        if not look:
            return
        entries = []
        for item, case in items:
            try:
                m = measure(case)
            except FgbmkError:
                continue
            path = self.path_for(PyTestLocation(item))
            entries.append(Entry(m.case_id, m, path, _read(path)))
        gate.decide_family(entries)

    def path_for(self, location: PyTestLocation) -> Path:
        ext = self.extension
        return Path(ext.get_location(test_location=location, index=0))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return f"<unreadable: {exc}>"


class _BoundGate:
    """The gate for one test: ``check(case_id, measurement) -> Verdict``."""

    def __init__(self, owner: SyrupyBaselineGate, request: Any) -> None:
        self.owner = owner
        self.request = request

    def check(self, case_id: str, measurement: Any) -> Verdict:
        owner = self.owner
        request = self.request
        session = request.getfixturevalue("fgbmk_answers")
        owner.prepare(
            request, CaseMeasures(session, lambda: request.getfixturevalue("fgbmk_machine"))
        )
        snapshot = request.getfixturevalue("snapshot").use_extension(owner.extension)
        path = owner.path_for(snapshot.test_location)
        fingerprint = session.model().fingerprint if session.model_loaded else None
        record = build_record(measurement, fingerprint)
        shown = _shown(path, request.config.rootpath)
        if owner.update:
            before = _read(path)
            snapshot.extension.verdict_ok = None
            snapshot.assert_match(record)
            what = "unchanged" if before == dump_record(record) else "written"
            return Verdict(
                True,
                f"{case_id}: baseline {what}: {shown}",
                (("baseline_file", str(shown)), ("baseline_update", what)),
            )
        verdict = owner.gate.verdict(Entry(case_id, measurement, shown, _read(path)))
        snapshot.extension.verdict_ok = verdict.ok
        _ = snapshot == record  # syrupy records the baseline as used (and its outcome)
        return verdict


def _shown(path: Path, rootpath: Path) -> Path:
    try:
        return path.relative_to(rootpath)
    except ValueError:
        return path


def install_gate(config: Any, value: Callable[[Any, str], Any], model_spec: str | None) -> Any:
    """Build the session's baseline gate from the options (None without a model).

    ``value(config, dest)`` reads an option (command line, then ini). Sets syrupy's options:
    ``--fgbmk-update-baselines`` updates without deleting other cases' baselines, and
    unused baselines are reported as a warning rather than failing the run.
    """
    if not model_spec:
        return None
    if not config.pluginmanager.hasplugin("syrupy"):
        raise ConfigError(
            "the baseline gate stores its baselines with syrupy; do not disable it (-p no:syrupy)"
        )
    option = config.option
    if value(config, "fgbmk_update_baselines"):
        option.update_snapshots = True
        option.no_cleanup = True
    option.warn_unused_snapshots = True
    alpha = value(config, "fgbmk_alpha")
    min_drop = value(config, "fgbmk_min_drop")
    alias = value(config, "fgbmk_baseline_alias") or default_alias(model_spec)
    return SyrupyBaselineGate(
        root=Path(config.rootpath) / "baselines",
        alias=alias,
        alpha=0.01 if alpha is None else parse_rate(alpha, "--fgbmk-alpha", 1e-12, 0.5),
        min_drop=1.0 if min_drop is None else parse_rate(min_drop, "--fgbmk-min-drop", 0.0, 100.0),
        update=bool(getattr(option, "update_snapshots", False)),
        distributed=hasattr(config, "workerinput"),
    )
