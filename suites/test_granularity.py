"""FG-BMK granularity (the suite shipped in the package; run `pytest --fgbmk-model=SPEC suites/`)."""

from pytest_fgbmk.suites.test_granularity import pytestmark, test_granularity

__all__ = ["pytestmark", "test_granularity"]
