"""The run layer: options, the datasets and resources of a run, and the run object.

From a script::

    from pytest_fgbmk.run import RunOptions, run_benchmark

    result = run_benchmark(RunOptions(model="oracle", synth="small"))
    for case in result.results:
        print(case.case_id, case.measurement.value, result.verdicts[case.case_id].ok)
"""

from pytest_fgbmk.run.options import RunOptions
from pytest_fgbmk.run.run import CaseResult, GateSettings, Run, RunResult, Selected, run_benchmark

__all__ = [
    "CaseResult",
    "GateSettings",
    "Run",
    "RunOptions",
    "RunResult",
    "Selected",
    "run_benchmark",
]
