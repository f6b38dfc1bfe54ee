"""The HTML reports render in headless Chromium (skipped without it): index and
a lemma page with a counterexample and a plot are screenshotted to
``reports/screenshots/`` for a person to look at."""
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from sample_lemmas import FALSE_FORMS, write_lemma

from proofcheck.surface.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def screenshot(page: Path, png: Path, size: str) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={size}", page.resolve().as_uri()], capture_output=True, timeout=120)
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_reports_render_in_chromium(tmp_path):
    write_lemma(tmp_path / "user", "good.py")
    write_lemma(tmp_path / "user", "planted.py", lemma_id="USER-G5-FALSE", closed=FALSE_FORMS["z_squared"])
    reports = tmp_path / "reports"
    assert main(["verify", "--no-builtin", "--lemmas", str(tmp_path / "user"), "--report-dir", str(reports)]) == 1
    out = Path(__file__).resolve().parent.parent / "reports" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    assert screenshot(reports / "index.html", out / "index.png", "1280,720") == (1280, 720)
    assert screenshot(reports / "USER-G5-FALSE.html", out / "lemma.png", "1280,1800") == (1280, 1800)
    assert (out / "lemma.png").stat().st_size > (out / "index.png").stat().st_size / 4
