"""The HTML reports render in a real browser (headless Chromium; `.ci/run` installs
Debian's chromium, so this runs in CI and skips only where no chromium binary
exists): the index and a lemma page with a counterexample, a plot and typeset
formulas load with every image decoded (naturalWidth > 0) and every ``<math>``
laid out with a non-zero box.  The screenshots are kept for a person to look at,
in ``reports/screenshots/``.

The render check runs as a script in a *copy* of each page (the reports
themselves carry no JavaScript); Chromium's ``--dump-dom`` returns the DOM after
the load event, with the script's findings in it."""
import html
import json
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import matplotlib
import pytest
import sympy as sp
from sample_lemmas import FALSE_FORMS, write_lemma

from proofcheck.surface.cli import main
from proofcheck.surface.mathml import to_mathml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "reports" / "screenshots"
#: what python.md says Chromium needs on these machines (root, no network), plus a fresh profile per run
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

RENDER_CHECK = """<script>
window.addEventListener("load", () => {
  const box = e => { const r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  const images = [...document.images].map(i => ({src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0,
                                                size: box(i)}));
  // a block <math> spans the line whatever it holds: its content's box is what was typeset
  const math = [...document.getElementsByTagName("math")].map((m, n) => ({n, mathml: m instanceof MathMLElement,
                                                  size: m.firstElementChild ? box(m.firstElementChild) : [0, 0]}));
  const out = document.createElement("pre");
  out.id = "render-report";
  out.textContent = JSON.stringify({images, math});
  document.body.appendChild(out);
});
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=120)


def render_report(page: Path) -> dict:
    """What Chromium drew of ``page``: each image (loaded or not) and each ``<math>`` (its box)."""
    probe = page.with_name(f".render-check-{page.name}")
    probe.write_text(page.read_text().replace("</body>", RENDER_CHECK + "</body>"))
    try:
        done = chromium("--virtual-time-budget=5000", "--window-size=1280,1800", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    found = re.search(r'<pre id="render-report">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium did not run the render check: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def problems(report: dict) -> list[str]:
    """Every broken image and every formula that did not render, one line each."""
    return ([f"image {i['src']} did not load" for i in report["images"] if not i["loaded"]]
            + [f"formula {m['n']} is not MathML" for m in report["math"] if not m["mathml"]]
            + [f"formula {m['n']} has no rendered size {m['size']}" for m in report["math"] if min(m["size"]) <= 0])


def screenshot(page: Path, png: Path, size: str) -> tuple[int, int]:
    chromium(f"--screenshot={png}", f"--window-size={size}", page.resolve().as_uri())
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_reports_render_in_chromium(tmp_path):
    write_lemma(tmp_path / "user", "good.py")
    write_lemma(tmp_path / "user", "planted.py", lemma_id="USER-G5-FALSE", closed=FALSE_FORMS["z_squared"])
    reports = tmp_path / "reports"
    assert main(["verify", "--no-builtin", "--lemmas", str(tmp_path / "user"), "--report-dir", str(reports)]) == 1
    lemma_page = reports / "USER-G5-FALSE.html"
    assert "Counterexample" in lemma_page.read_text()

    drawn = render_report(lemma_page)
    assert problems(drawn) == []
    assert len(drawn["images"]) >= 1                       # the check's plot
    assert len(drawn["math"]) >= 3                         # the statement and the counterexample's numbers
    width, height = drawn["math"][0]["size"]
    assert width > 100 and height > 10                     # the statement typeset, not an empty box
    index = render_report(reports / "index.html")
    assert problems(index) == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert screenshot(reports / "index.html", SCREENSHOTS / "index.png", "1280,720") == (1280, 720)
    assert screenshot(lemma_page, SCREENSHOTS / "lemma.png", "1280,2000") == (1280, 2000)
    assert (SCREENSHOTS / "lemma.png").stat().st_size > (SCREENSHOTS / "index.png").stat().st_size / 4


def test_the_render_check_reports_a_broken_image_and_an_unrendered_formula(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "fine.png")
    plt.close(fig)
    (tmp_path / "not-an-image.png").write_text("a text file named .png")
    page = tmp_path / "broken.html"
    # a real plot, a file that is no image, a missing one; a typeset formula, an empty one, a hidden one
    page.write_text('<!DOCTYPE html><html><body><img src="fine.png"><img src="not-an-image.png"><img src="gone.png">'
                    f'{to_mathml(sp.Symbol("x") ** 2 < 1)}<math display="block"></math>'
                    '<math display="block" style="display:none"><mi>y</mi></math></body></html>')
    drawn = render_report(page)
    assert problems(drawn) == ["image not-an-image.png did not load", "image gone.png did not load",
                               "formula 1 has no rendered size [0, 0]", "formula 2 has no rendered size [0, 0]"]
    assert min(drawn["math"][0]["size"]) > 0 and drawn["images"][0]["loaded"]
