"""FG-BMK image retrieval: one case per dataset, e.g. test_retrieval[synth_birds]: mAP of the ``cls`` view over the whole ranked train gallery for every test query (cosine), recall@1 and recall@10 as properties; per-query AP is what the baseline gate pairs."""

import pytest

pytestmark = [pytest.mark.fgbmk_machine]


@pytest.mark.fgbmk_task("retrieval")
def test_retrieval(fgbmk_machine_measurement, fgbmk_gate):
    m = fgbmk_machine_measurement
    verdict = fgbmk_gate.check(m.case_id, m)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
