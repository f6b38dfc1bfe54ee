"""``proofcheck sweep``: the arguments and the printed summary of a sweep run on Dask
(:mod:`proofcheck.engine.sweep`); the CLI module adds the subcommand from here."""
from __future__ import annotations

import sys
from collections import Counter

from proofcheck.context import BUDGETS, Budget
from proofcheck.engine.discovery import discover
from proofcheck.engine.session import Session
from proofcheck.engine.sweep import SWEEPS, false_alarms, lemma_results, plan, run_sweep
from proofcheck.errors import UsageError
from proofcheck.surface import report
from proofcheck.surface.console import error_line


def add_arguments(p, positive_int, positive_float) -> None:
    p.add_argument("sweep", choices=SWEEPS, help="no-false-alarm: every lemma that trains no model x seed; mutation: "
                   "every planted mutant x seed; seeds: the lemmas given (e.g. THM-SCALING) x seed")
    p.add_argument("ids", nargs="*", metavar="ID", help="lemma ids (default: every lemma the sweep takes)")
    p.add_argument("--seeds", type=positive_int, default=None, metavar="N",
                   help="seeds 0..N-1 (default: the budget's seeds, 1 for mutation)")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full")
    p.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                   help="Dask LocalCluster of N worker processes, one thread each (default 1: this process)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on the Dask cluster of this scheduler instead of a LocalCluster")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS", help="time limit per task")


def run(args, report_dir, lemma_sources) -> int:
    """Plan, run (skipping stored tasks) and summarise one sweep; exit 1 on a false alarm
    (no-false-alarm, seeds) or a surviving mutant (mutation)."""
    lemmas, errors = discover(lemma_sources.lemmas, builtin=not lemma_sources.no_builtin)
    for e in errors:
        error_line(str(e))
    if args.ids:
        unknown = sorted(set(args.ids) - {lem.id for lem in lemmas})
        if unknown:
            raise UsageError(f"unknown lemma id {unknown[0]!r} (proofcheck list shows the ids)")
        lemmas = [lem for lem in lemmas if lem.id in args.ids]
    budget = Budget.get(args.budget)
    seeds = args.seeds or (1 if args.sweep == "mutation" else budget.seeds)
    tasks = plan(args.sweep, lemmas, seeds, budget)
    settings = Session(budget, 0, args.device, str(report_dir), args.timeout, report.software_versions())
    print(f"sweep {args.sweep}: {len(tasks)} tasks ({len({t.lemma_id for t in tasks})} lemma(s), {seeds} seed(s), budget "
          f"{budget.name}); results in {report_dir / 'sweeps' / args.sweep}", flush=True)
    done = run_sweep(args.sweep, tasks, settings, args.jobs, args.scheduler,
                     on_result=lambda task, data: print(f"  {task.name}: {_verdict(data)}", flush=True))
    where = args.scheduler or (f"LocalCluster of {done.workers} process(es)" if done.workers else "this process")
    print(f"ran {done.ran} task(s), skipped {len(tasks) - done.ran} already stored, on {where}, "
          f"in {done.wall_s:.1f} s", flush=True)
    if args.sweep == "mutation":
        counts = Counter(d["outcome"] for d in done.results.values())
        print("mutants: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())), flush=True)
        return 1 if counts.get("survived") else 0
    merged = lemma_results(done)
    counts = Counter(r.verdict.value for r in merged.values())
    print(f"{len(merged)} (lemma, seed) results: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    bad = false_alarms(done)
    for r in bad:
        reasons = "; ".join(c.summary for c in r.checks if c.affects_verdict and not c.verdict.passed)
        cx = [c.counterexample.get("file") for c in r.checks if c.counterexample]
        print(f"FALSE ALARM {r.lemma_id} seed {r.seed}: {r.verdict.value}: {reasons}"
              + (f" (counterexample {', '.join(map(str, cx))})" if cx else ""), file=sys.stderr)
    refuted = sum(r.verdict.value == "REFUTED" for r in bad)
    print(f"false refutations: {refuted}; other failures (ERROR/INCONCLUSIVE): {len(bad) - refuted}")
    return 1 if bad else 0


def _verdict(data: dict) -> str:
    return data.get("outcome") or data.get("verdict", "?")
