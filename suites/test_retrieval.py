"""FG-BMK image retrieval (the suite shipped in the package; run `pytest --fgbmk-model=SPEC suites/`)."""

from pytest_fgbmk.suites.test_retrieval import pytestmark, test_retrieval

__all__ = ["pytestmark", "test_retrieval"]
