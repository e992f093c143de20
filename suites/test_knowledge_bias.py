"""FG-BMK knowledge bias (the suite shipped in the package; run `pytest --fgbmk-model=SPEC suites/`)."""

from pytest_fgbmk.suites.test_knowledge_bias import pytestmark, test_knowledge_bias

__all__ = ["pytestmark", "test_knowledge_bias"]
