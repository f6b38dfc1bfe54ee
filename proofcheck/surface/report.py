"""Reports under ``reports/``: one JSON, one HTML page and the plots per lemma,
and an ``index.html`` over every lemma reported so far.

Layout of a report folder::

    index.html            every lemma with its verdict, worst margin and time
    ID.json               LemmaResult.to_json() (schema_version in proofcheck.verdict)
    ID.html               the page a reviewer reads
    plots/ID/*.png        the plots the lemma's checks made

Every file goes through :mod:`proofcheck.io`, so a crash or Ctrl-C never leaves
a half-written report.  The pages are self-contained (inline CSS, no network)
and always show the provenance tag: whether a lemma is the paper's own claim
[V], SPEC's reconstruction [R] or SPEC's derivation [D] (SPEC §0).
"""
from __future__ import annotations

import html
import json
import math
import os
import platform
import tempfile
from pathlib import Path

from proofcheck import verdict as verdict_module

from proofcheck.errors import ReportError
from proofcheck.io import atomic_write_text
from proofcheck.lang.lemma import BUILTIN_DIR
from proofcheck.context import ReportLayout
from proofcheck.surface.mathdoc import math_link
from proofcheck.surface.mathml import value_mathml
from proofcheck.verdict import SCHEMA_VERSION, LemmaResult, Verdict

#: the schema versions this proofcheck reads (version 1 lacks statement_mathml)
READABLE_VERSIONS = (1, SCHEMA_VERSION)

#: what each tag means for the reader of a verdict (SPEC §0)
TAG_READING = {
    "V": "the paper's own claim, as recovered from its public descriptions: "
         "a verdict here is about the paper.",
    "R": "SPEC's reconstruction of a claim whose exact form in the paper was not recovered: "
         "a verdict here is about the reconstruction, not necessarily the paper.",
    "D": "derived by SPEC from the reconstructed model (not a statement recovered from the paper): "
         "a verdict here is about SPEC's derivation.",
}
#: the only fields allowed to differ between two runs with the same seed: wall-clock times, and
#: whether a result came from the cache (which depends on what ran before, e.g. under --jobs)
TIMING_FIELDS = ("timing_s", "train_s", "prover_seconds", "cached")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#1d2430;line-height:1.45;background:#fff}
h1{font-size:1.6rem;margin:.2rem 0 .6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dde6;
padding-bottom:.2rem}h3{font-size:1.05rem;margin:1.4rem 0 .4rem}
a{color:#1f5fbf}table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.92rem}
th,td{border:1px solid #d8dde6;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f4f8;font-weight:600}tr:nth-child(even) td{background:#fafbfd}
td.id{white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f6f8fa;border:1px solid #d8dde6;padding:.7rem;overflow-x:auto;font-size:.86rem;
line-height:1.25;white-space:pre}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.verdict{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;font-weight:700;font-size:.85rem;
letter-spacing:.02em;white-space:nowrap}
.PROVED{background:#1a7f37;color:#fff}.VERIFIED{background:#d1f0da;color:#0f5323}
.REFUTED{background:#cf222e;color:#fff}.INCONCLUSIVE{background:#fff1c2;color:#6b4e00}
.ERROR{background:#8250df;color:#fff}
.big{font-size:1.1rem;padding:.25rem .8rem}
.tag{display:inline-block;font-weight:700;border-radius:.3rem;padding:.05rem .45rem;border:2px solid}
.tag-V{color:#0b4f9c;border-color:#0b4f9c}.tag-R{color:#9a5b00;border-color:#9a5b00}
.tag-D{color:#5a3d99;border-color:#5a3d99}
.banner{border-left:6px solid;padding:.6rem .9rem;margin:.8rem 0;background:#f7f8fb}
.banner-V{border-color:#0b4f9c}.banner-R{border-color:#9a5b00}.banner-D{border-color:#5a3d99}
.muted{color:#5b6472;font-size:.88rem}.info{color:#5b6472;font-style:italic}
.cex{border:2px solid #cf222e;border-radius:.3rem;padding:.2rem .9rem .6rem;margin:.6rem 0;background:#fff6f6}
math{font-size:1.1em}math[display=block]{margin:.5rem 0;overflow-x:auto;font-size:1.3rem}.math-box{background:#f6f8fa;
border:1px solid #d8dde6;padding:.2rem .9rem;overflow-x:auto}.scope{color:#1a4d2e;font-size:.88rem}
figure{margin:.6rem 0}figure img{max-width:100%;border:1px solid #d8dde6}
.missing{color:#cf222e}details summary{cursor:pointer;color:#1f5fbf}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
"""


# -- JSON -------------------------------------------------------------------------

def json_path(report_dir: str | os.PathLike, lemma_id: str) -> Path:
    return ReportLayout(report_dir).json_path(lemma_id)


def html_path(report_dir: str | os.PathLike, lemma_id: str) -> Path:
    return ReportLayout(report_dir).html_path(lemma_id)


def strip_timings(data):
    """A report's JSON data without its timing fields: two runs with the same
    seed must give equal results under this function."""
    if isinstance(data, dict):
        return {k: strip_timings(v) for k, v in data.items() if k not in TIMING_FIELDS}
    if isinstance(data, list):
        return [strip_timings(v) for v in data]
    return data


def verdict_margin(result: LemmaResult) -> float | None:
    """The worst margin among the checks that decide the verdict; informative
    probes (negative by design: they show an assumption is needed) are left out."""
    margins = [c.margin for c in result.checks if c.affects_verdict and isinstance(c.margin, (int, float))]
    return min(margins) if margins else None


def checks_passed(result: LemmaResult, probes: bool = True) -> str:
    """"passed/total" over the checks that decide the verdict, plus the probe count if ``probes``."""
    deciding = [c for c in result.checks if c.affects_verdict]
    n_probes = len(result.checks) - len(deciding)
    return (f"{sum(c.verdict.passed for c in deciding)}/{len(deciding)}"
            + (f" +{n_probes} probe(s)" if n_probes and probes else ""))


def load_result(path: str | os.PathLike) -> LemmaResult:
    """Read a lemma's JSON report; a truncated file or another schema version
    is a one-line :class:`ReportError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read report {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"report {path} is truncated or not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("schema_version") not in READABLE_VERSIONS:
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise ReportError(f"report {path} has schema version {version!r}; this proofcheck reads "
                          f"{', '.join(map(str, READABLE_VERSIONS))}")
    try:
        return LemmaResult.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"report {path} does not follow the report schema: {type(exc).__name__}: {exc}") from None


def last_verdicts(report_dir: str | os.PathLike) -> dict[str, Verdict]:
    """lemma id -> verdict of its saved report (unreadable reports are skipped:
    this serves ``proofcheck list``, which must not fail on an old report)."""
    out = {}
    for path in sorted(Path(report_dir).glob("*.json")):
        try:
            out[path.stem] = load_result(path).verdict
        except ReportError:
            continue
    return out


def ensure_writable(report_dir: str | os.PathLike) -> Path:
    """Fail early, before any check runs, when the report folder cannot be written."""
    report_dir = Path(report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=report_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ReportError(f"report folder {report_dir} is not writable: {exc.strerror or exc}") from None
    return report_dir


def relative_plots(result: LemmaResult, report_dir: str | os.PathLike) -> None:
    """Store plot paths relative to the report folder, so that the JSON does not
    depend on where the report folder lives and the HTML links work when moved."""
    base = Path(report_dir).resolve()
    for check in result.checks:
        fixed = []
        for p in check.plots:
            path = Path(p)
            if not path.is_absolute() and not (base / path).exists() and path.exists():
                path = path.resolve()
            fixed.append(os.path.relpath(path, base) if path.is_absolute() else str(path))
        check.plots = fixed


# -- HTML -------------------------------------------------------------------------

def scope_text(result: LemmaResult) -> str | None:
    """The verdict's scope in words (``proofcheck.verdict.scope_line``, where this version has it)."""
    scope_line = getattr(verdict_module, "scope_line", None)
    return scope_line(result) if scope_line else None


def scope_html(result: LemmaResult, before: str = " ") -> str:
    """The scope beside the verdict's badge, less the verdict word the badge shows."""
    line = scope_text(result)
    if not line:
        return ""
    return f'{before}<span class="scope">{_e(line.removeprefix(result.verdict.value).strip())}</span>'


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def badge(verdict: Verdict | str, big: bool = False) -> str:
    v = Verdict(verdict).value
    return f'<span class="verdict {v}{" big" if big else ""}">{v}</span>'


def tag_badge(tag: str) -> str:
    return f'<span class="tag tag-{_e(tag)}">[{_e(tag)}]</span>'


def fmt_number(x) -> str:
    if x is None:
        return "&ndash;"
    if isinstance(x, str):
        return _e(x)
    if isinstance(x, float) and not math.isfinite(x):
        return _e(repr(x))
    return f"{x:.3g}" if isinstance(x, float) else _e(x)


def fmt_tolerance(tol: dict | None) -> str:
    if not tol:
        return "&ndash;"
    parts = [f"{k} {fmt_number(tol[k])}" for k in ("atol", "rtol") if tol.get(k) is not None]
    just = tol.get("justification")
    return ", ".join(parts) + (f'<br><span class="muted">{_e(just)}</span>' if just else "")


def replay_command(result: LemmaResult) -> str:
    """The command that reruns the lemma exactly (same seed, same budget, and
    its lemma file when it is not a built-in one)."""
    extra = ""
    if result.source and Path(result.source).resolve().parent != BUILTIN_DIR:
        extra = f" --lemmas {result.source}"
    return f"proofcheck verify {result.lemma_id} --seed {result.seed} --budget {result.budget}{extra}"


def check_replay(result: LemmaResult, check) -> str:
    """The counterexample's own replay command if it states one, else the lemma's."""
    cex = check.counterexample
    return (cex.get("command") if isinstance(cex, dict) else None) or replay_command(result)


def _pre(text: str) -> str:
    return f"<pre><code>{_e(text)}</code></pre>"


def _json_block(data) -> str:
    return _pre(json.dumps(data, indent=2, sort_keys=True))


def _statement(r: LemmaResult) -> str:
    """The statement typeset (schema 2), with its plain text to copy; a version 1
    report has only the text."""
    text = _pre(r.statement or "(no statement)")
    if not r.statement_mathml:
        return text
    return (f'<div class="math-box">{"".join(r.statement_mathml)}</div>'
            f"<details><summary>plain text</summary>{text}</details>")


def _cex_rows(data: dict, prefix: str = "") -> list[str]:
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _cex_rows(value, f"{name}.")
            continue
        typeset = value_mathml(value)
        shown = typeset or (f"<code>{_e(value)}</code>" if isinstance(value, (str, int, float, type(None)))
                            else _pre(json.dumps(value, sort_keys=True)))
        rows.append(f"<tr><td><code>{_e(name)}</code></td><td>{shown}</td></tr>")
    return rows


def _counterexample(cex) -> str:
    """Numbers, vectors and matrices of a counterexample typeset (6 significant
    digits), text as written; the exact record follows as JSON."""
    if not isinstance(cex, dict):
        return _json_block(cex)
    return (f"<table>{''.join(_cex_rows(cex))}</table>"
            f"<details><summary>exact record (JSON)</summary>{_json_block(cex)}</details>")


def _plots(check, report_dir: Path) -> str:
    out = []
    for p in check.plots:
        if (report_dir / p).is_file():
            out.append(f'<figure><img src="{_e(Path(p).as_posix())}" alt="{_e(check.name)}: {_e(Path(p).name)}">'
                       f'<figcaption class="muted">{_e(Path(p).name)}</figcaption></figure>')
        else:
            out.append(f'<p class="missing">plot {_e(p)} is missing from the report folder</p>')
    return "".join(out)


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def provenance_banner(prov: dict) -> str:
    tag = prov.get("tag", "?")
    return (f'<div class="banner banner-{_e(tag)}">{tag_badge(tag)} <strong>{_e(prov.get("tag_meaning", ""))}</strong>'
            f' &mdash; this lemma is {_e(TAG_READING.get(tag, "of unknown provenance."))}<br>'
            f'<span class="muted">SPEC item: {_e(prov.get("item", ""))}; paper {_e(prov.get("paper", ""))}, '
            f'paper item: {_e(prov.get("paper_item", ""))}</span></div>')


def lemma_html(result: LemmaResult, report_dir: str | os.PathLike) -> str:
    """The page of one lemma: statement, assumptions, every check with its
    result, counterexamples with their replay command, plots."""
    report_dir = Path(report_dir)
    r = result
    body = ['<p class="muted"><a href="index.html">&larr; all lemmas</a></p>',
            f"<h1>{_e(r.lemma_id)}: {_e(r.title)} {tag_badge(r.provenance.get('tag', '?'))}</h1>",
            f"<p>Verdict: {badge(r.verdict, big=True)} &nbsp; <span class='muted'>budget {_e(r.budget)}, "
            f"seed {_e(r.seed)}, {r.timing_s:.2f} s</span>{scope_html(r)}</p>",
            f"<p>The mathematics: {math_link(r)}</p>", provenance_banner(r.provenance)]
    if r.expected:
        body.append(f'<p class="info">{known_finding(r)}</p>')
    if r.error:
        body.append(f'<p class="missing">{_e(r.error)}</p>')
    body += ["<h2>Statement</h2>", _statement(r)]
    body.append("<h2>Assumptions</h2>")
    if r.assumptions:
        rows = "".join(f"<tr><td><code>{_e(a.get('name'))}</code></td><td>{a.get('mathml', '')} {_e(a.get('description'))}</td>"
                       f"<td>{'yes' if a.get('probed') else 'no'}</td></tr>" for a in r.assumptions)
        body.append(f"<table><tr><th>name</th><th>description</th><th>probed (violated on purpose)</th></tr>"
                    f"{rows}</table>")
    else:
        body.append('<p class="muted">none stated</p>')
    body.append("<h2>Checks</h2>")
    rows = []
    for n, c in enumerate(r.checks, 1):
        info = "" if c.affects_verdict else '<br><span class="info">informative: does not affect the verdict</span>'
        rows.append(f'<tr><td class="num"><a href="#check-{n}">{n}</a></td><td>{_e(c.kind)}</td><td>{_e(c.name)}</td>'
                    f"<td>{badge(c.verdict)}{info}</td><td>{_e(c.summary)}</td>"
                    f'<td class="num">{fmt_number(c.margin)}</td><td>{fmt_tolerance(c.tolerance)}</td>'
                    f'<td class="num">{fmt_number(c.seed)}</td><td class="num">{c.timing_s:.2f} s</td></tr>')
    body.append("<table><tr><th>#</th><th>kind</th><th>name</th><th>verdict</th><th>summary</th><th>margin</th>"
                "<th>tolerance and justification</th><th>seed</th><th>time</th></tr>" + "".join(rows) + "</table>")
    for n, c in enumerate(r.checks, 1):
        body.append(f'<h3 id="check-{n}">{n}. {_e(c.name)} {badge(c.verdict)}</h3><p>{_e(c.summary)}</p>')
        if c.counterexample is not None:
            body.append('<div class="cex"><h3>Counterexample</h3>' + _counterexample(c.counterexample)
                        + "<p>Replay with:</p>" + _pre(check_replay(r, c)) + "</div>")
        body += [_plots(c, report_dir), _evidence_table(c.evidence)]
        if c.evidence:
            body.append("<details><summary>evidence</summary>" + _json_block(c.evidence) + "</details>")
    body.append("<h2>Run</h2><dl>" + "".join(
        f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in [
            ("replay", f"<code>{_e(replay_command(r))}</code>"), ("lemma file", f"<code>{_e(r.source)}</code>"),
            ("software", _e(", ".join(f"{k} {v}" for k, v in sorted(r.versions.items())))),
            ("report schema", _e(SCHEMA_VERSION))]) + "</dl>")
    return page(f"{r.lemma_id} {r.verdict.value}", "\n".join(body))


def _evidence_table(evidence) -> str:
    """A check's own table (``evidence["table"]``: caption, columns, rows; numbers to four digits)."""
    t = evidence.get("table") if isinstance(evidence, dict) else None
    if not isinstance(t, dict) or not t.get("columns"):
        return ""
    rows = ["".join(f'<td class="num">{v:.4g}</td>' if isinstance(v, float) else f"<td>{_e(v)}</td>" for v in row)
            for row in t.get("rows", [])]
    return (f"<table><caption>{_e(t.get('caption', ''))}</caption><tr>" + "".join(f"<th>{_e(c)}</th>" for c in
            t["columns"]) + "</tr>" + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>")


def index_html(results: list[LemmaResult], problems: list[str] = ()) -> str:
    """The table of every reported lemma, linking its page."""
    counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
    summary = " ".join(f"{badge(v)} {n}" for v, n in counts.items() if n)
    rows = []
    for r in sorted(results, key=lambda r: r.lemma_id):
        tag = r.provenance.get("tag", "?")
        rows.append(f'<tr><td class="id"><a href="{_e(r.lemma_id)}.html">{_e(r.lemma_id)}</a></td><td>{_e(r.title)}</td>'
                    f"<td>{tag_badge(tag)}</td><td>{badge(r.verdict)}{scope_html(r, '<br>')}"
                    f"{'<br><span class=info>known finding</span>' if r.as_expected else ''}</td>"
                    f'<td class="num">{checks_passed(r)}</td><td class="num">{fmt_number(verdict_margin(r))}</td><td class="num">{r.timing_s:.2f} s</td>'
                    f"<td>{_e(r.budget)}</td><td class='num'>{_e(r.seed)}</td></tr>")
    legend = "".join(f"<li>{tag_badge(t)} {_e(TAG_READING[t])}</li>" for t in TAG_READING)
    body = ["<h1>proofcheck report</h1>",
            "<p>Lemmas of arXiv 2403.02233 as pinned in SPEC.md, each checked symbolically, numerically or along "
            f"gradient-descent trajectories. The mathematics of every lemma: {math_link()}.</p>",
            f"<p>{summary or 'no lemma reported yet'}</p>",
            "<table><tr><th>id</th><th>title</th><th>tag</th><th>verdict</th><th>checks passed</th>"
            "<th title='smallest margin over the checks that decide the verdict (probes excluded)'>worst margin</th><th>time</th><th>budget</th><th>seed</th></tr>" + "".join(rows) + "</table>",
            f"<h2>Provenance tags</h2><ul>{legend}</ul>"]
    if problems:
        body.append("<h2>Reports that could not be read</h2><ul>"
                    + "".join(f"<li class='missing'>{_e(p)}</li>" for p in problems) + "</ul>")
    return page("proofcheck report", "\n".join(body))


# -- writing ------------------------------------------------------------------------

def software_versions() -> dict:
    """Versions recorded in every report (reproducibility of a verdict)."""
    import hypothesis
    import numpy
    import sympy
    import torch
    from proofcheck import __version__
    return {"proofcheck": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "sympy": sympy.__version__, "numpy": numpy.__version__, "hypothesis": hypothesis.__version__}


def write_lemma_report(result: LemmaResult, report_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``ID.json`` then ``ID.html`` atomically."""
    relative_plots(result, report_dir)
    j = atomic_write_text(json_path(report_dir, result.lemma_id), result.to_json() + "\n")
    h = atomic_write_text(html_path(report_dir, result.lemma_id), lemma_html(result, report_dir))
    return j, h


def read_results(report_dir: str | os.PathLike) -> tuple[list[LemmaResult], list[str]]:
    """Every readable lemma report in the folder, and one line per unreadable one."""
    results, problems = [], []
    for path in sorted(Path(report_dir).glob("*.json")):
        try:
            results.append(load_result(path))
        except ReportError as exc:
            problems.append(str(exc))
    return results, problems


def write_index(report_dir: str | os.PathLike, read: tuple[list[LemmaResult], list[str]] | None = None
                ) -> tuple[Path, list[str]]:
    """``index.html`` over every report in the folder (not only this run's); ``read`` is :func:`read_results`."""
    results, problems = read or read_results(report_dir)
    return atomic_write_text(Path(report_dir) / "index.html", index_html(results, problems)), problems


def rebuild(report_dir: str | os.PathLike) -> tuple[list[LemmaResult], list[str]]:
    """Rewrite every lemma page and the index from the saved JSONs, without rerunning any check
    (``proofcheck report``).  Returns the results and one line per report that could not be read."""
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise ReportError(f"report folder {report_dir} does not exist (run proofcheck verify first)")
    results, problems = read_results(report_dir)
    for r in results:
        atomic_write_text(html_path(report_dir, r.lemma_id), lemma_html(r, report_dir))
    write_index(report_dir, (results, problems))
    return results, problems


def known_finding(r: LemmaResult) -> str:
    """One line on a lemma's declared known finding and whether this run matched it."""
    e = r.expected
    head = (f"Known finding: {e['verdict']} as declared" if r.as_expected
            else f"Expected {e['verdict']} (known finding) but got {r.verdict.value}")
    return f"{head}: {e['reason']}"
