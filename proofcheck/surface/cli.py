"""The ``proofcheck`` command line: list, show, verify, train, report.

Exit codes (``proofcheck verify``; the other commands use 0 and 2 only):

====  ==========================================================================
0     nothing REFUTED, no check raised, no input error (INCONCLUSIVE is shown,
      but it is not a failure: no evidence either way)
1     some lemma is REFUTED or some check raised (ERROR): a false statement or a
      broken check outranks everything else, so CI never hides it behind exit 2.
      A lemma's declared known finding (``expect=``) does not count; a
      different verdict for such a lemma does
2     usage or input error: a bad argument, a lemma file that does not load,
      an unknown lemma id, an unwritable report folder, an unreadable trajectory
      or report.  Bad lemma files are reported one line each and the good
      lemmas still run; exit 2 applies when nothing was REFUTED or raised
130   interrupted (Ctrl-C); every report written before stays complete
====  ==========================================================================

Every :class:`~proofcheck.errors.ProofcheckError` ends as one line
``proofcheck: error: ...`` on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from proofcheck import __version__
from proofcheck.surface import report
from proofcheck.errors import ProofcheckError, ReportError, UsageError
from proofcheck.context import BUDGETS, Budget
from proofcheck.surface.junit import junit_xml
from proofcheck.lang.lemma import TAGS, Lemma
from proofcheck.engine.discovery import discover
from proofcheck.verdict import LemmaResult, Verdict
from proofcheck.engine.session import Session, time_limit, warm_imports
from proofcheck.surface.console import (consoles, error_line, fitted_table, print_problems, print_scopes,
                                        results_table, verdict_line, verdict_text)
from proofcheck.surface.mathml import typeset

EXIT_OK, EXIT_REFUTED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


# -- argument parsing ---------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line (a :class:`UsageError`), not usage text."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _integer(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _integer(text, 1, ">= 1")


def seed_int(text: str) -> int:
    return _integer(text, 0, ">= 0")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for preset options; VALUE is read as int, float or text."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"must look like KEY=VALUE, got {text!r}")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


EPILOG = """exit codes of verify: 0 nothing REFUTED or errored; 1 some lemma REFUTED or a check raised
(this outranks 2; a lemma's declared known finding does not count, a different verdict for it does); 2 usage or input error (bad argument, lemma file that does not load,
unknown id, unwritable report folder); 130 interrupted.  Reports: REPORT_DIR/index.html,
REPORT_DIR/ID.json, REPORT_DIR/ID.html, REPORT_DIR/plots/ID/."""


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="proofcheck", description="Check the lemmas of arXiv 2403.02233 (SPEC.md) "
                            "symbolically, numerically and along GD trajectories.", epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"proofcheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def lemma_sources(p):
        p.add_argument("--lemmas", action="append", default=[], metavar="PATH",
                       help="extra lemma files or folders (repeatable), besides the built-in lemmas")
        p.add_argument("--no-builtin", action="store_true", help="load only the --lemmas files, not the built-in ones")

    def report_dir(p):
        p.add_argument("--report-dir", type=Path, default=Path("reports"), metavar="DIR",
                       help="report folder (default: reports/)")

    p = sub.add_parser("list", help="every lemma with id, title, tag, kinds of check and last verdict")
    lemma_sources(p)
    report_dir(p)

    p = sub.add_parser("show", help="statement, assumptions and provenance of one lemma")
    p.add_argument("id", metavar="ID")
    lemma_sources(p)
    report_dir(p)

    p = sub.add_parser("verify", help="check lemmas and write their reports", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="*", metavar="ID", help="lemma ids (default: every lemma)")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="quick",
                   help="quick: CI-sized, every built-in lemma in under a minute; full: the thorough run")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of every check (default 0); same seed, same JSON")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    lemma_sources(p)
    report_dir(p)
    p.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                   help="run independent checks in N parallel processes (default 1)")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="time limit per check; a check past it is INCONCLUSIVE")
    p.add_argument("--junit", type=Path, default=None, metavar="FILE", help="also write JUnit XML for CI")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout instead of a table")

    p = sub.add_parser("train", help="train on a preset instance and save the trajectory (.npz)")
    p.add_argument("preset", metavar="PRESET", help="fixture-6, balanced or global-local")
    p.add_argument("--set", dest="options", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="preset option, e.g. --set P=8 --set gamma=0.3 (repeatable)")
    p.add_argument("--steps", type=seed_int, default=500)
    p.add_argument("--eta", type=positive_float, default=1.0)
    p.add_argument("--gradient", choices=["exact", "sampled", "population"], default="exact")
    p.add_argument("--samples", type=positive_int, default=512)
    p.add_argument("--init", choices=["zero", "random"], default="zero")
    p.add_argument("--parametrisation", choices=["coords", "full"], default="coords")
    p.add_argument("--log-every", type=positive_int, default=10)
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="trajectory file (default: reports/trajectories/PRESET-seedN.npz)")
    p.add_argument("--flow", action="store_true", help="integrate the gradient flow (BDF) instead of running GD")
    p.add_argument("--time", type=positive_float, default=None, metavar="T",
                   help="flow time T = eta * steps (with --flow)")

    p = sub.add_parser("report", help="rebuild the HTML reports from saved JSON, without rerunning checks")
    report_dir(p)
    p.add_argument("--trajectory", type=Path, action="append", default=[], metavar="FILE",
                   help="also summarise and plot a saved trajectory (repeatable)")

    from proofcheck.surface import sweep_cli
    p = sub.add_parser("sweep", help="run a sweep (lemma x seed x instance, or planted mutants) on Dask; "
                       "results under REPORT_DIR/sweeps/NAME/, a rerun skips what is stored")
    sweep_cli.add_arguments(p, positive_int, positive_float)
    lemma_sources(p)
    report_dir(p)
    return parser


# -- verify -------------------------------------------------------------------------


def select_lemmas(lemmas: list[Lemma], ids: list[str]) -> tuple[list[Lemma], list[str]]:
    """The lemmas asked for (all when ``ids`` is empty) and one line per unknown id."""
    if not ids:
        return lemmas, []
    by_id = {lem.id: lem for lem in lemmas}
    unknown = [f"unknown lemma id {i!r} (proofcheck list shows the ids)" for i in ids if i not in by_id]
    return [by_id[i] for i in dict.fromkeys(ids) if i in by_id], unknown


def load_lemmas(args) -> tuple[list[Lemma], list[str]]:
    """The lemmas of ``--lemmas``/``--no-builtin``; each file that does not load is one error line.  With
    ``--timeout`` each file's import gets the time limit too."""
    timeout = getattr(args, "timeout", None)
    limit = (lambda what: time_limit(timeout, what)) if timeout else None
    lemmas, errors = discover(args.lemmas, builtin=not args.no_builtin, limit=limit)
    for e in errors:
        error_line(str(e))
    return lemmas, [str(e) for e in errors]


def exit_code(results: list[LemmaResult], input_errors: list[str]) -> int:
    if any(r.failed for r in results):
        return EXIT_REFUTED
    return EXIT_INPUT if input_errors else EXIT_OK


def cmd_verify(args) -> int:
    from proofcheck.setting.trainer import resolve_device  # torch loads only for the commands that need it

    out, err = consoles(quiet=args.json)
    resolve_device(args.device)
    report_dir = report.ensure_writable(args.report_dir)
    warm_imports()  # before the imports of lemma files get --timeout: a cut library import would stay broken
    lemmas, input_errors = load_lemmas(args)
    lemmas, unknown = select_lemmas(lemmas, args.ids)
    for line in unknown:
        error_line(line)
    input_errors += unknown
    session = Session(Budget.get(args.budget), args.seed, args.device, str(report_dir), args.timeout,
                      report.software_versions())
    n_checks = sum(len(lem.claims) for lem in lemmas)
    done: list[LemmaResult] = []
    start = time.perf_counter()
    show_progress = err.is_terminal and n_checks > 0
    progress = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True,
                        disable=not show_progress)

    lemma_of = {lem.id: lem for lem in lemmas}
    unwritable: list[str] = []

    def write_reports(result: LemmaResult | None = None):
        """The lemma's reports and the index.  A folder that becomes unwritable mid-run is one line, the
        reports written before stay complete (atomic writes) and the other lemmas still run."""
        try:
            if result is not None:
                report.write_lemma_report(result, report_dir)
            report.write_index(report_dir)
        except ReportError as exc:
            if not unwritable:
                error_line(f"report folder {report_dir} became unwritable; later reports are not saved: {exc}")
            unwritable.append(str(exc))

    def on_done(result: LemmaResult):
        typeset(result, lemma_of[result.lemma_id])
        write_reports(result)
        done.append(result)
        out.print(verdict_line(result), no_wrap=True, overflow="ellipsis")

    # with --json, stdout carries only the JSON: what checks print (e.g. Hypothesis's notes) goes to stderr
    quiet_checks = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    try:
        with progress, quiet_checks:
            task = progress.add_task(f"verify ({args.budget}, seed {args.seed})", total=n_checks)
            results = session.run(lemmas, args.jobs, on_done, lambda: progress.advance(task))
    except KeyboardInterrupt:
        write_reports()
        print(f"proofcheck: interrupted: {len(done)} of {len(lemmas)} lemma reports complete in {report_dir}; "
              "rerun to finish", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    write_reports()
    input_errors += unwritable[:1]
    if args.junit:
        from proofcheck.io import atomic_write_text
        atomic_write_text(args.junit, junit_xml(results))
    code = exit_code(results, input_errors)
    if args.json:
        import json
        print(json.dumps({"exit_code": code, "input_errors": input_errors,
                          "lemmas": [r.to_dict() for r in results]}, indent=2, sort_keys=True))
        return code
    if results:
        out.print()
        out.print(results_table(results, out))
        print_scopes(results, out)
        print_problems(results, out)
    counts = ", ".join(f"{sum(r.verdict is v for r in results)} {v.value}" for v in Verdict
                       if any(r.verdict is v for r in results))
    out.print(Text(f"{len(results)} lemma(s){': ' + counts if counts else ''} in {time.perf_counter() - start:.1f} s"
                   f" (budget {args.budget}, seed {args.seed}); reports in {report_dir / 'index.html'}"),
              soft_wrap=True)
    if not lemmas:
        out.print("no lemmas to verify", soft_wrap=True)
    return code


# -- list, show -------------------------------------------------------------------

def cmd_list(args) -> int:
    out, _ = consoles()
    lemmas, errors = load_lemmas(args)
    last = report.last_verdicts(args.report_dir)
    rows = [[Text(lem.id), Text(f"[{lem.tag}]"), Text(", ".join(lem.kinds)),
             verdict_text(last[lem.id]) if lem.id in last else Text("-"), Text(lem.title)] for lem in lemmas]
    out.print(fitted_table(("lemma", "tag", "kinds", "last verdict", "title"), rows, out, right_from=99))
    out.print(f"{len(lemmas)} lemma(s); tags:", markup=False)
    for tag, meaning in TAGS.items():
        out.print(f"  [{tag}] {meaning}", soft_wrap=True, markup=False)
    return EXIT_INPUT if errors else EXIT_OK


def cmd_show(args) -> int:
    out, _ = consoles()
    lemmas, errors = load_lemmas(args)
    found, unknown = select_lemmas(lemmas, [args.id])
    if unknown:
        raise UsageError(unknown[0])
    lem = found[0]
    prov = lem.provenance
    out.print(Text(f"{lem.id}: {lem.title}", style="bold"), soft_wrap=True)
    out.print(Text(f"[{prov.tag}] {TAGS[prov.tag]}: this lemma is {report.TAG_READING[prov.tag]}"), soft_wrap=True)
    out.print(Text(f"SPEC item: {prov.item}; paper {prov.paper}, paper item: {prov.paper_item}"), soft_wrap=True)
    out.print(Text(f"file: {lem.source}"), soft_wrap=True)
    out.print("\nStatement:")
    out.print(Text(lem.statement_text()), soft_wrap=True)
    out.print("\nAssumptions:")
    for a in lem.assumptions or []:
        probed = " (probed: violated on purpose to see what breaks)" if a.violate else ""
        out.print(Text(f"  {a.name}: {a.description}{probed}"), soft_wrap=True)
    if not lem.assumptions:
        out.print("  none stated")
    out.print("\nClaims checked:")
    for c in lem.claims:
        out.print(Text(f"  {c.kind}: {c.describe()}"), soft_wrap=True)
    if lem.notes:
        out.print("\nNotes:")
        out.print(Text(lem.notes), soft_wrap=True)
    path = report.json_path(args.report_dir, lem.id)
    if path.exists():
        try:
            last = report.load_result(path)
            out.print(Text.assemble("\nLast verdict: ", verdict_text(last.verdict),
                                    f" (budget {last.budget}, seed {last.seed}; {path.with_suffix('.html')})"))
        except ProofcheckError as exc:
            error_line(str(exc))
    return EXIT_INPUT if errors else EXIT_OK


# -- train, report --------------------------------------------------------------------

def cmd_train(args) -> int:
    from proofcheck.setting.instance import preset
    from proofcheck.setting.trainer import TrainConfig, train

    out, err = consoles()
    if (args.flow or args.time is not None) and not (args.flow and args.time is not None):
        raise UsageError("--flow and --time T go together: the flow is integrated up to time T")
    inst = preset(args.preset, **dict(args.options))
    cfg = TrainConfig(steps=args.steps, eta=args.eta, gradient=args.gradient, samples=args.samples, init=args.init,
                      parametrisation=args.parametrisation, log_every=args.log_every, seed=args.seed,
                      device=args.device)
    path = args.out or Path("reports") / "trajectories" / f"{args.preset}-seed{args.seed}.npz"
    out.print(Text(inst.describe()), soft_wrap=True)
    if args.flow or args.time is not None:
        from proofcheck.setting.flow import flow
        traj = flow(inst, cfg, args.time)
        out.print(Text(f"gradient flow to t = {args.time}: {traj.meta['solver']}"), soft_wrap=True)
    else:
        with Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                      transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task("train", total=cfg.steps)
            traj = train(inst, cfg, progress=lambda step, total: progress.update(task, completed=step))
    traj.save(path)
    summarise_trajectory(traj, out)
    out.print(Text(f"saved {path}"), soft_wrap=True)
    return EXIT_OK


def summarise_trajectory(traj, out: Console) -> None:
    mass = traj.target_mass()
    out.print(Text(f"{traj.step[-1]} GD steps (eta {traj.config.eta}, {traj.config.gradient} gradient): "
                   f"loss {traj.loss[0]:.6g} -> {traj.loss[-1]:.6g}; target area mass E[A_p,a] "
                   f"min {mass[0].min():.4f} -> {mass[-1].min():.4f}, mean {mass[0].mean():.4f} -> "
                   f"{mass[-1].mean():.4f}"), soft_wrap=True)


def cmd_report(args) -> int:
    from proofcheck.setting.trainer import Trajectory
    from proofcheck.engine.plots import trajectory_plot

    out, _ = consoles()
    trajectories = [(p, Trajectory.load(p)) for p in args.trajectory]
    results, problems = report.rebuild(args.report_dir)
    for line in problems:
        error_line(line)
    for path, traj in trajectories:
        png = trajectory_plot(traj, args.report_dir / "plots" / "trajectories" / f"{path.stem}.png")
        out.print(Text(f"{path}: "), end="")
        summarise_trajectory(traj, out)
        out.print(Text(f"plot: {png}"), soft_wrap=True)
    if results:
        out.print(results_table(results, out))
    out.print(Text(f"rebuilt {len(results)} lemma page(s) and {args.report_dir / 'index.html'}"), soft_wrap=True)
    return EXIT_INPUT if problems else EXIT_OK


def cmd_sweep(args) -> int:
    from proofcheck.surface import sweep_cli
    return sweep_cli.run(args, report.ensure_writable(args.report_dir), args)


COMMANDS = {"list": cmd_list, "show": cmd_show, "verify": cmd_verify, "train": cmd_train, "report": cmd_report,
            "sweep": cmd_sweep}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``proofcheck`` and ``python -m proofcheck``; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except ProofcheckError as exc:
        error_line(str(exc))
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("proofcheck: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `proofcheck list | head`
        return EXIT_OK
