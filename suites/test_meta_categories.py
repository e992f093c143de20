"""FG-BMK classification across meta-categories (the suite shipped in the package; run `pytest --fgbmk-model=SPEC suites/`)."""

from pytest_fgbmk.suites.test_meta_categories import pytestmark, test_meta_categories

__all__ = ["pytestmark", "test_meta_categories"]
