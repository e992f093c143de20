"""FG-BMK linear probe and alignment effect (the suite shipped in the package; run `pytest --fgbmk-model=SPEC suites/`)."""

from pytest_fgbmk.suites.test_linear_probe import (
    pytestmark,
    test_alignment_effect,
    test_linear_probe,
)

__all__ = ["pytestmark", "test_alignment_effect", "test_linear_probe"]
