"""FG-BMK attribute recognition: one case per dataset × attribute group × question type (tf, mc), e.g. test_attribute[cub-wing_color-tf]."""

import pytest

pytestmark = [pytest.mark.fgbmk_human]


@pytest.mark.fgbmk_task("attribute")
def test_attribute(fgbmk_measurement, fgbmk_gate):
    verdict = fgbmk_gate.check(fgbmk_measurement.case_id, fgbmk_measurement)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
