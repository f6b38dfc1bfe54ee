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

#: width of the output off a terminal (CI logs, pipes): one table line per lemma fits it
PIPE_WIDTH = 100


VERDICT_STYLE = {Verdict.PROVED: "bold green", Verdict.VERIFIED: "green", Verdict.REFUTED: "bold red",
                 Verdict.INCONCLUSIVE: "yellow", Verdict.ERROR: "bold magenta"}


def consoles(quiet: bool = False) -> tuple[Console, Console]:
    """(stdout, stderr) consoles.  Off a terminal they print plain text,
    :data:`PIPE_WIDTH` columns wide unless ``COLUMNS`` says otherwise."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH
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


def verdict_line(r: LemmaResult) -> Text:
    """The line printed as a lemma finishes; the title comes last, so that a
    narrow console cuts only the title."""
    return Text.assemble((f"{r.verdict.value:<12}", VERDICT_STYLE[r.verdict]),
                         f" {r.lemma_id} [{r.provenance.get('tag', '?')}] {r.timing_s:.2f} s  {r.title}")


def print_scopes(results: list[LemmaResult], out: Console) -> None:
    """Under the table: what each verdict covers, one wrapped paragraph per lemma."""
    for r in results:
        scope = report.scope_text(r)
        if scope:
            out.print(Text(f"{r.lemma_id}: {scope}"))


def fitted_table(names: tuple[str, ...], rows: list[list[Text]], console: Console, right_from: int) -> Table:
    """One line per row, whatever the console width: every column but the
    last keeps the width of its widest cell, the last (a title) is cut with an
    ellipsis (the reports and ``proofcheck show`` have it whole)."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    widths = [max([len(name)] + [row[n].cell_len for row in rows]) for n, name in enumerate(names[:-1])]
    for n, (name, width) in enumerate(zip(names, widths)):
        table.add_column(name, no_wrap=True, min_width=width, justify="right" if n >= right_from else "left")
    # a column of SIMPLE_HEAD without edges takes its width plus 3 (padding either side and the rule)
    table.add_column(names[-1], no_wrap=True, overflow="ellipsis",
                     max_width=max(5, console.width - sum(widths) - 3 * len(widths)))
    for row in rows:
        table.add_row(*row)
    return table


def results_table(results: list[LemmaResult], console: Console) -> Table:
    """The verify table: one line per lemma (see ``fitted_table``)."""
    rows = []
    for r in results:
        verdict = verdict_text(r.verdict)
        if r.expected:
            verdict.append(" (known finding)" if r.as_expected else f" (expected {r.expected['verdict']})")
        rows.append([Text(r.lemma_id), Text(f"[{r.provenance.get('tag', '?')}]"), verdict,
                     Text(report.checks_passed(r, probes=False)), Text(fmt_margin(report.verdict_margin(r))),
                     Text(f"{r.timing_s:.2f}s"), Text(r.title)])
    # short headers and no probe count (the probes are listed under the table) leave the line to the title
    return fitted_table(("lemma", "tag", "verdict", "checks", "margin", "time", "title"), rows, console, right_from=3)


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
