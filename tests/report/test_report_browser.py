"""report.html in headless Chromium: loads with no console message, every figure present
and decoded, model output never executed, and a screenshot.

Needs Debian's ``chromium`` (/usr/bin/chromium); without it every test here is skipped
with that reason.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from report_fixtures import FIGURE_IDS, SECTIONS, baseline_run, full_run

from pytest_fgbmk.report.html import CSP, build_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless browser test needs Debian's chromium at /usr/bin/chromium "
    "(apt-get install -y chromium)",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=4000",
)
CONSOLE = re.compile(r":CONSOLE[:(].*")
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const out = {
    title: document.title,
    images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    figures: [...document.querySelectorAll("figure.fgbmk-figure img")]
      .filter(i => i.naturalWidth > 0).map(i => i.closest("figure").id),
    scripts: document.scripts.length,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_lines(stderr: str) -> list[str]:
    return [m.group(0) for m in CONSOLE.finditer(stderr)]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    return build_report(full_run(tmp / "run"), baseline=baseline_run(tmp / "base"))


def test_the_console_detector_sees_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><script>console.error("boom")</script>')
    r = chromium(tmp_path, "--dump-dom", bad.as_uri())
    assert any('"boom"' in line for line in console_lines(r.stderr)), r.stderr[-2000:]


def test_report_loads_with_no_console_message_and_every_figure(page, tmp_path):
    r = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    assert console_lines(r.stderr) == []
    dom = r.stdout
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in dom
    for fid in FIGURE_IDS:
        assert f'id="fig-{fid}"' in dom
    assert "<title>FG-BMK report: chance</title>" in dom
    assert "<script" not in dom and 'src="x"' not in dom


def test_images_decode_and_model_output_does_not_run(page, tmp_path):
    """A copy whose policy allows inline script (so injected markup *would* run) with a
    probe that reports what the browser decoded."""
    html = page.read_text()
    assert CSP in html
    relaxed = html.replace(CSP, "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                "script-src 'unsafe-inline'")  # fmt: skip
    probe = page.parent / "probe.html"
    probe.write_text(relaxed.replace("</body>", PROBE + "</body>"))
    r = chromium(tmp_path, "--dump-dom", probe.as_uri())
    assert console_lines(r.stderr) == []
    found = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert found, r.stdout[-2000:]
    out = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert out["title"] == "FG-BMK report: chance"  # the model's script never set it
    assert out["scripts"] == 1  # only the probe
    assert out["images"] == out["decoded"] >= len(FIGURE_IDS) + 1  # figures + a thumbnail
    assert sorted(out["figures"]) == sorted(f"fig-{f}" for f in FIGURE_IDS)


def test_screenshot(page, tmp_path):
    shot = tmp_path / "report.png"
    r = chromium(tmp_path, "--window-size=1280,2200", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), r.stderr[-2000:]
    img = Image.open(shot)
    assert img.size == (1280, 2200)
    assert max(ImageStat.Stat(img.convert("L")).stddev) > 20  # not a blank page
