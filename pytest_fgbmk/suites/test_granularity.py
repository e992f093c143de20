"""FG-BMK granularity: one case per dataset × taxonomy level × question type (tf, mc; sa at the finest level), e.g. test_granularity[inat2021-family-mc]."""

import pytest

pytestmark = [pytest.mark.fgbmk_human]


@pytest.mark.fgbmk_task("granularity")
def test_granularity(fgbmk_measurement, fgbmk_gate):
    verdict = fgbmk_gate.check(fgbmk_measurement.case_id, fgbmk_measurement)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
