"""Reports (issue 5): JSON schema and determinism, the HTML a reviewer reads,
the index, JUnit XML, rebuilding from saved JSON."""
import html
import json
import xml.etree.ElementTree as ET

import pytest
from sample_lemmas import FALSE_FORMS, write_lemma

from proofcheck.surface import report
from proofcheck.surface.junit import junit_xml
from proofcheck.errors import ReportError
from proofcheck.context import CheckContext
from proofcheck.engine.discovery import load_lemma_file
from proofcheck.engine.session import run_lemma
from proofcheck.verdict import SCHEMA_VERSION, CheckResult, LemmaResult, Verdict


def result(lemma_id="USER-1", tag="R", verdict=Verdict.REFUTED, title="a <b>bold</b> claim", plots=(), cex=None,
           margin=-0.5, timing=1.25):
    meaning = {"V": "verified from the paper's public descriptions", "R": "reconstructed by SPEC",
               "D": "derived by SPEC and checked"}[tag]
    check = CheckResult("numeric", "gradient identity", verdict, "worst entry p=2",
                        evidence={"max_abs_error": 0.5}, tolerance={"atol": 1e-12, "rtol": 0.0,
                                                                     "justification": "float64 rounding"},
                        counterexample=cex, margin=margin, seed=3, plots=list(plots), timing_s=timing)
    probe = CheckResult("probe", "without orthonormal embeddings", Verdict.REFUTED, "fails off the assumption",
                        affects_verdict=False, timing_s=0.5)
    return LemmaResult(lemma_id, title, {"item": "SPEC §8 LEM-G5", "tag": tag, "tag_meaning": meaning},
                       verdict, [check, probe], "quick", 3, statement="x = y", source="user/lemma.py",
                       versions={"torch": "2.13"}, timing_s=timing + 0.5)


@pytest.mark.parametrize("tag, words", [("V", "the paper's own claim"), ("R", "SPEC's reconstruction"),
                                        ("D", "derived by SPEC")])
def test_page_always_shows_the_provenance_tag_and_what_it_means(tmp_path, tag, words):
    page = report.lemma_html(result(tag=tag), tmp_path)
    assert f'class="tag tag-{tag}">[{tag}]</span>' in page and words in html.unescape(page)


def test_page_shows_checks_counterexample_with_replay_and_escapes_user_text(tmp_path):
    cex = {"p": 2, "cluster": 1, "command": "proofcheck verify USER-1 --seed 3 --lemmas user/lemma.py"}
    page = report.lemma_html(result(cex=cex), tmp_path)
    assert "<b>bold</b>" not in page and "a &lt;b&gt;bold&lt;/b&gt; claim" in page
    assert "Counterexample" in page and "proofcheck verify USER-1 --seed 3 --lemmas user/lemma.py" in page
    assert "float64 rounding" in page and "atol 1e-12" in page and "-0.5" in page
    assert "informative: does not affect the verdict" in page
    assert 'class="verdict REFUTED big"' in page


def test_page_without_counterexample_has_no_counterexample_box(tmp_path):
    page = report.lemma_html(result(verdict=Verdict.VERIFIED, margin=0.1), tmp_path)
    assert "Counterexample" not in page


def test_plots_are_relative_images_and_a_missing_plot_is_said_not_broken(tmp_path):
    plot = tmp_path / "plots" / "USER-1" / "errors.png"
    plot.parent.mkdir(parents=True)
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    r = result(plots=[str(plot), str(tmp_path / "plots" / "USER-1" / "gone.png")])
    report.write_lemma_report(r, tmp_path)
    saved = json.loads((tmp_path / "USER-1.json").read_text())
    assert saved["checks"][0]["plots"] == ["plots/USER-1/errors.png", "plots/USER-1/gone.png"]
    page = (tmp_path / "USER-1.html").read_text()
    assert '<img src="plots/USER-1/errors.png"' in page
    assert "gone.png is missing from the report folder" in page and 'src="plots/USER-1/gone.png"' not in page


def test_json_report_is_versioned_and_round_trips(tmp_path):
    r = result(cex={"p": 1})
    report.write_lemma_report(r, tmp_path)
    data = json.loads((tmp_path / "USER-1.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    for key in ("verdict", "checks", "provenance", "versions", "timing_s", "seed", "budget"):
        assert key in data
    check = data["checks"][0]
    for key in ("evidence", "margin", "tolerance", "seed", "counterexample", "timing_s"):
        assert key in check
    assert report.load_result(tmp_path / "USER-1.json") == r


@pytest.mark.parametrize("text, message", [('{"schema_version": 1, "lemma_id": ', "truncated or not JSON"),
                                           ('{"schema_version": 99}', "schema version 99"),
                                           ('{"schema_version": 1, "title": "x"}', "does not follow")])
def test_unreadable_report_is_one_line(tmp_path, text, message):
    path = tmp_path / "USER-1.json"
    path.write_text(text)
    with pytest.raises(ReportError) as info:
        report.load_result(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_strip_timings_ignores_only_timings():
    a, b = result(timing=1.0).to_dict(), result(timing=7.0).to_dict()
    assert a != b and report.strip_timings(a) == report.strip_timings(b)
    c = result(timing=1.0, margin=-0.25).to_dict()
    assert report.strip_timings(a) != report.strip_timings(c)


def test_same_seed_same_json_apart_from_timings(tmp_path):
    lemma = load_lemma_file(write_lemma(tmp_path, "false.py", lemma_id="USER-F", closed=FALSE_FORMS["sign_flip"]))
    runs = [run_lemma(lemma, CheckContext(seed=s)).to_dict() for s in (5, 5, 6)]
    assert report.strip_timings(runs[0]) == report.strip_timings(runs[1])
    assert report.strip_timings(runs[0]) != report.strip_timings(runs[2])


def test_index_lists_every_report_with_link_tag_verdict_and_margin(tmp_path):
    report.write_lemma_report(result("USER-1", tag="V"), tmp_path)
    report.write_lemma_report(result("USER-2", tag="D", verdict=Verdict.VERIFIED, margin=0.125), tmp_path)
    (tmp_path / "USER-3.json").write_text("{")
    _, problems = report.write_index(tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert '<a href="USER-1.html">USER-1</a>' in page and '<a href="USER-2.html">USER-2</a>' in page
    assert "tag-V" in page and "tag-D" in page and "0.125" in page and "-0.5" in page
    assert len(problems) == 1 and "USER-3.json" in problems[0] and "USER-3.json" in page


def test_rebuild_rewrites_pages_from_json_without_running_checks(tmp_path):
    report.write_lemma_report(result("USER-1"), tmp_path)
    (tmp_path / "USER-1.html").unlink()
    results, problems = report.rebuild(tmp_path)
    assert [r.lemma_id for r in results] == ["USER-1"] and problems == []
    assert "USER-1" in (tmp_path / "USER-1.html").read_text() and (tmp_path / "index.html").exists()
    with pytest.raises(ReportError, match="does not exist"):
        report.rebuild(tmp_path / "nowhere")


def test_junit_counts_refuted_as_failure_error_as_error_inconclusive_as_skip():
    rs = [result("USER-1", cex={"p": 1, "command": "replay me"}), result("USER-2", verdict=Verdict.ERROR),
          result("USER-3", verdict=Verdict.INCONCLUSIVE), result("USER-4", verdict=Verdict.VERIFIED)]
    root = ET.fromstring(junit_xml(rs))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["USER-1"].get("failures") == "1" and "replay me" in suites["USER-1"].find("testcase/failure").text
    # the informative probe (REFUTED outside the assumptions) is shown but never fails CI
    assert "informative probe: REFUTED" in suites["USER-4"].findall("testcase")[1].find("system-out").text
    assert suites["USER-2"].get("errors") == "1" and suites["USER-3"].get("skipped") == "1"
    assert suites["USER-4"].find("testcase/failure") is None
    assert "[R]" in suites["USER-4"].find("testcase").get("name")


def test_unwritable_report_folder_fails_early(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match="not writable"):
        report.ensure_writable(blocker / "reports")
