"""FG-BMK classification across meta-categories: one probe over the union of the selected datasets' categories, one case per dataset, e.g. test_meta_categories[synth_birds] (multiple top-1 gated; single top-1 and the drop as properties). Needs at least two single-label datasets."""

import pytest

pytestmark = [pytest.mark.fgbmk_machine]


@pytest.mark.fgbmk_task("meta_categories")
def test_meta_categories(fgbmk_machine_measurement, fgbmk_gate):
    m = fgbmk_machine_measurement
    verdict = fgbmk_gate.check(m.case_id, m)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
