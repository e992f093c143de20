"""FG-BMK attribute recognition (the suite shipped in the package; run `pytest --fgbmk-model=SPEC suites/`)."""

from pytest_fgbmk.suites.test_attribute_recognition import pytestmark, test_attribute

__all__ = ["pytestmark", "test_attribute"]
