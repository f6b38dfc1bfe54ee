"""Terminal output of the CLI: the consoles (colour and progress only on a terminal), one-line errors, the
results table and the list of problems."""
from __future__ import annotations

import os
import sys
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from proofcheck.surface import report
from proofcheck.verdict import LemmaResult, Verdict


VERDICT_STYLE = {Verdict.PROVED: "bold green", Verdict.VERIFIED: "green", Verdict.REFUTED: "bold red",
                 Verdict.INCONCLUSIVE: "yellow", Verdict.ERROR: "bold magenta"}


def consoles(quiet: bool = False) -> tuple[Console, Console]:
    """(stdout, stderr) consoles.  Off a terminal they print plain text, wide
    enough that tables stay readable in CI logs."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
    out = Console(highlight=False, width=width, quiet=quiet)
    err = Console(stderr=True, highlight=False, width=width)
    return out, err


def error_line(message: str) -> None:
    """One line on stderr; plain print so that no console wraps it."""
    print(f"proofcheck: error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def verdict_text(v: Verdict) -> Text:
    return Text(v.value, style=VERDICT_STYLE[v])


def fmt_margin(m) -> str:
    return "-" if m is None else (m if isinstance(m, str) else f"{m:.3g}")


def results_table(results: list[LemmaResult], console: Console) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, kw in [("lemma", {"no_wrap": True}), ("tag", {}), ("verdict", {"no_wrap": True}),
                     ("checks", {"justify": "right"}), ("worst margin", {"justify": "right"}),
                     ("time", {"justify": "right"}), ("title", {"overflow": "fold"})]:
        table.add_column(name, **kw)
    for r in results:
        verdict = verdict_text(r.verdict)
        if r.expected:
            verdict.append(" (known finding)" if r.as_expected else f" (expected {r.expected['verdict']})")
        table.add_row(Text(r.lemma_id), Text(f"[{r.provenance.get('tag', '?')}]"), verdict,
                      report.checks_passed(r), fmt_margin(report.verdict_margin(r)),
                      f"{r.timing_s:.2f}s", Text(r.title))
    return table


def print_problems(results: list[LemmaResult], out: Console) -> None:
    """Every deciding check that did not pass, with its summary and how to
    replay it; then the informative probes, which never change a verdict."""
    probes = [(r, c) for r in results for c in r.checks if not c.affects_verdict]
    for r in results:
        for c in r.checks:
            if c.verdict.passed or not c.affects_verdict:
                continue
            known = "(known finding) " if r.as_expected else ""
            out.print(Text.assemble((f"{c.verdict.value:<12}", VERDICT_STYLE[c.verdict]), f" {r.lemma_id} {known}",
                                    f"[{r.provenance.get('tag', '?')}] {c.kind}: {c.name}: {c.summary}"),
                      soft_wrap=True)
            if c.verdict is Verdict.REFUTED:
                out.print(Text(f"             replay: {report.check_replay(r, c)}"), soft_wrap=True)
    if probes:
        out.print(Text(f"{len(probes)} informative probe(s), outside the assumptions (they do not affect verdicts):",
                       style="dim"), soft_wrap=True)
    for r, c in probes:
        out.print(Text(f"  {r.lemma_id}: {c.verdict.value}: {c.summary}", style="dim"), soft_wrap=True)


