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


def test_a_check_table_in_the_evidence_is_rendered_as_an_html_table(tmp_path):
    r = result(verdict=Verdict.VERIFIED, margin=0.1)
    r.checks[0].evidence = {"table": {"caption": "diversity <per seed>", "columns": ["seed", "MAE JS"],
                                      "rows": [["3", 0.553211], ["collapsed", 0.0]]}}
    page = report.lemma_html(r, tmp_path)
    assert "<caption>diversity &lt;per seed&gt;</caption><tr><th>seed</th><th>MAE JS</th></tr>" in page
    assert '<tr><td>3</td><td class="num">0.5532</td></tr><tr><td>collapsed</td><td class="num">0</td></tr>' in page
    # evidence without a table, or with a malformed one, adds nothing
    r.checks[0].evidence = {"table": ["not", "a", "table"]}
    assert "<caption>" not in report.lemma_html(r, tmp_path)


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


# -- the mathematics, linked and typeset (issue 12) ---------------------------------------

def test_every_builtin_lemma_has_a_section_in_the_mathematics_document():
    from proofcheck.engine.discovery import discover
    from proofcheck.surface.mathdoc import MATHEMATICS, math_sections
    lemmas, errors = discover()
    assert lemmas and not errors
    sections = math_sections(MATHEMATICS)
    missing = [lem.id for lem in lemmas if lem.id not in sections]
    assert not missing, f"no heading in docs/mathematics.md for {missing}"


def test_the_section_check_fails_on_a_document_without_the_lemma(tmp_path):
    from proofcheck.surface.mathdoc import math_sections
    doc = tmp_path / "mathematics.md"
    doc.write_text("# Title\n\n### LEM-G4\ntext mentioning LEM-G5 but no heading\n## 2.1 Data, masks\n")
    assert math_sections(doc) == {"Title": "title", "LEM-G4": "lem-g4", "2.1 Data, masks": "21-data-masks"}


def test_lemma_page_links_its_section_of_the_installed_document(tmp_path):
    from proofcheck.surface.mathdoc import MATHEMATICS
    assert MATHEMATICS.is_absolute() and MATHEMATICS.is_file()
    r = result("THM-MAIN-v1-SCALING")
    page = report.lemma_html(r, tmp_path)
    assert f'href="{MATHEMATICS.as_uri()}#thm-main-v1-scaling"' in page
    assert "mathematics.md &sect; THM-MAIN-v1-SCALING" in page
    # a user lemma without a section of its own links the SPEC item its provenance names
    assert f'href="{MATHEMATICS.as_uri()}#lem-g5"' in report.lemma_html(result("USER-9"), tmp_path)
    bare = result("USER-9")
    bare.provenance = {"tag": "R", "item": "a user's own claim"}
    assert "(no section for this lemma)" in report.lemma_html(bare, tmp_path)
    assert f'href="{MATHEMATICS.as_uri()}"' in report.index_html([r])


def test_statement_and_counterexample_are_typeset_as_mathml_and_text_stays_in_json(tmp_path):
    import sympy as sp
    from proofcheck.surface.mathml import statement_mathml
    x = sp.Symbol("x")
    r = result(cex={"p": 2, "Phi": [[0.5, -1.25e-9], [3.0, 4.0]], "instance": {"name": "fixture-6", "P": 6},
                    "command": "proofcheck verify USER-1"})
    r.statement_mathml = statement_mathml([sp.Lt(x ** 2, 1), sp.Eq(sp.Symbol("-dL/dPhi_{p->v_{k,a}}"), x)])
    report.write_lemma_report(r, tmp_path)
    page = (tmp_path / "USER-1.html").read_text()
    assert page.count('<math display="block">') == 2
    assert "<mo>&lt;</mo>" in page and "<mo><</mo>" not in page     # SymPy writes '<' raw; the page escapes it
    assert "<msub><mi>\u2212dL/dΦ</mi>" in page and "<mi>p→v</mi>" in page
    assert '<math display="inline"><mn>2</mn></math>' in page and "<mtable>" in page
    assert "<code>instance.name</code>" in page and "<code>fixture-6</code>" in page
    assert "<msup><mn>10</mn><mn>-9</mn></msup>" in page            # 6 digits typeset, exact value in the JSON
    assert json.loads((tmp_path / "USER-1.json").read_text())["checks"][0]["counterexample"]["Phi"][0][1] == -1.25e-9
    assert report.load_result(tmp_path / "USER-1.json").statement == "x = y"


def test_assumption_formulas_are_typeset_beside_their_description(tmp_path):
    from types import SimpleNamespace

    import sympy as sp

    from proofcheck.lang.assumptions import gamma_interior, span_point, z_positive
    from proofcheck.surface.mathml import typeset
    lemma = SimpleNamespace(statement=sp.Symbol("x") > 0, assumptions=[z_positive, span_point, gamma_interior])
    r = result("USER-2")
    r.assumptions = [a.to_dict() for a in lemma.assumptions]
    typeset(r, lemma)
    assert "z_j >= L" in r.assumptions[0]["formula"] and "L > 0" in r.assumptions[0]["formula"]   # text in JSON
    assert "mathml" not in r.assumptions[1]                       # span_point has no formula: prose only
    page = report.lemma_html(r, tmp_path)
    rows = page.split("<h2>Assumptions</h2>", 1)[1].split("</table>", 1)[0]
    assert rows.count('<math display="inline">') == 2 and "<mi>γ</mi>" in rows
    assert "every area scale is bounded below" in rows           # the description stays beside the formula


def test_a_version_1_report_still_loads_and_shows_its_statement_as_text(tmp_path):
    data = result().to_dict()
    data["schema_version"] = 1
    del data["statement_mathml"]
    (tmp_path / "USER-1.json").write_text(json.dumps(data))
    old = report.load_result(tmp_path / "USER-1.json")
    assert old.statement_mathml == []
    page = report.lemma_html(old, tmp_path)
    assert "<math" not in page and "<pre><code>x = y</code></pre>" in page


def test_scope_line_is_shown_beside_the_verdict_where_verdict_has_it(tmp_path, monkeypatch):
    from proofcheck import verdict
    monkeypatch.setattr(verdict, "scope_line", lambda r: f"{r.verdict.value} for every number of areas",
                        raising=False)
    # beside the badge, without repeating the verdict word the badge shows
    assert '<span class="scope">for every number of areas</span>' in report.lemma_html(result(), tmp_path)
    assert '<br><span class="scope">for every number of areas</span>' in report.index_html([result()])


def test_every_builtin_statement_is_well_formed_mathml_and_the_check_sees_sympys_raw_output():
    from xml.dom.minidom import parseString
    from xml.parsers.expat import ExpatError

    import sympy as sp
    from sympy.printing.mathml import mathml

    from proofcheck.engine.discovery import discover
    from proofcheck.surface.mathml import statement_mathml
    lemmas, _ = discover()
    for lem in lemmas:
        for block in statement_mathml(lem.statement):
            assert parseString(block).documentElement.tagName == "math", lem.id
    with pytest.raises(ExpatError):  # what SymPy itself writes for x < 1
        parseString(f"<math>{mathml(sp.Symbol('x') < 1, printer='presentation')}</math>")


@pytest.mark.parametrize("name, expected", [
    ("phi_(p->v_(k,1))", "<msub><mi>φ</mi><msub><mi>p→v</mi><mi>k,1</mi></msub></msub>"),
    ("A_a", "<msub><mi>A</mi><mi>a</mi></msub>"),
    ("Pr[A >= 1 - epsilon]", "<mi>Pr[A ≥ 1 - ε]</mi>"),          # inside brackets: words only, no scripts
])
def test_descriptive_symbol_names_are_read_as_base_and_subscript(name, expected):
    import sympy as sp
    from proofcheck.surface.mathml import to_mathml
    assert to_mathml(sp.Symbol(name)) == f'<math display="block">{expected}</math>'


def test_counterexample_values_typeset_only_finite_numbers_vectors_and_matrices():
    from proofcheck.surface.mathml import value_mathml
    assert value_mathml(3) == '<math display="inline"><mn>3</mn></math>'
    assert "<mtable>" in value_mathml([1.0, 2.0]) and value_mathml([[1.0], [2.0]]).count("<mtr>") == 2
    for not_math in ("nan", float("nan"), float("inf"), True, None, [], [{"p": 1}], [[1.0], [2.0, 3.0]]):
        assert value_mathml(not_math) is None, not_math
