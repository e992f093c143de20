"""FG-BMK feature robustness (the suite shipped in the package; run `pytest --fgbmk-model=SPEC suites/`)."""

from pytest_fgbmk.suites.test_feature_robustness import pytestmark, test_feature_robustness

__all__ = ["pytestmark", "test_feature_robustness"]
