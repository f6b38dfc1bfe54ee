"""Named sweeps on Dask distributed (issue 12): lemma x seed x instance, or every planted mutant,
as a list of :class:`~proofcheck.engine.session.Task` s run by
:func:`~proofcheck.engine.session.execute` -- in this process, on a ``LocalCluster`` of worker
processes (``--jobs N``) or on a cluster the user runs (``--scheduler tcp://HOST:PORT``), by the
same function as ``verify``, so a result depends on the task alone, never on where it ran.

A sweep writes one JSON per task under ``REPORT_DIR/sweeps/NAME/`` as each finishes
(atomically); a rerun skips the tasks whose file is complete.  The no-false-alarm sweep (every
true lemma that trains no model at many seeds) and the mutation sweep (:mod:`proofcheck.engine.adequacy`)
check the checker itself; the ``seeds`` sweep runs any lemmas, the theorem scaling studies included."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from proofcheck.context import FULL, Budget
from proofcheck.engine.adequacy import MUTATION_BUDGET, claim_mutants, judge_mutant
from proofcheck.engine.session import Session, Task, execute, merge_claims, reload_lemma, run_task, warm_imports
from proofcheck.errors import ProofcheckError
from proofcheck.io import atomic_write_text
from proofcheck.lang.lemma import Lemma
from proofcheck.verdict import LemmaResult, Verdict

SWEEPS = ("no-false-alarm", "mutation", "seeds")


def run_mutant_task(task: Task, settings: Session, lemma: Lemma | None = None) -> dict:
    """The unit of the mutation sweep: planted mutant ``task.mutant`` of claim
    ``task.claim`` (:func:`~proofcheck.engine.adequacy.claim_mutants` order), judged
    as :func:`~proofcheck.engine.adequacy.mutate_lemma` judges it; the outcome as a dict."""
    warm_imports()
    lemma = lemma or reload_lemma(task)
    claim = lemma.claims[task.claim]
    label, mutant, same = claim_mutants(claim)[task.mutant]
    return asdict(judge_mutant(lemma, claim, label, mutant, same(), task.seed, cache_dir=settings.report_dir))


# -- named sweeps ----------------------------------------------------------------------

@dataclass
class SweepRun:
    """What :func:`run_sweep` did: every task's result (from this run or an earlier
    one), how many ran now, the workers and the wall time of this run."""

    name: str
    folder: Path
    results: dict[str, dict] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    ran: int = 0
    workers: int = 0
    wall_s: float = 0.0


def plan(name: str, lemmas: Iterable[Lemma], seeds: int, budget: Budget = FULL) -> list[Task]:
    """The tasks of a named sweep (:data:`SWEEPS`):

    - ``no-false-alarm``: every claim of every lemma that trains no model (``Lemma.trains``) at seeds
      0..seeds-1 (the identity checks cover both key sets within one claim);
    - ``mutation``: every planted mutant of every claim with a SymPy statement, at
      seeds 0..seeds-1, escalating budgets as in :mod:`proofcheck.engine.adequacy`;
    - ``seeds``: every claim of the lemmas given, trajectory ones included (the
      theorem scaling studies), at seeds 0..seeds-1."""
    lemmas = list(lemmas)
    if name not in SWEEPS:
        raise ProofcheckError(f"unknown sweep {name!r}; choose one of {', '.join(SWEEPS)}")
    if name == "mutation":
        return [Task(str(lem.source), lem.id, i, s, MUTATION_BUDGET, m) for lem in lemmas
                for i, claim in enumerate(lem.claims) for m in range(len(claim_mutants(claim)))
                for s in range(seeds)]
    if name == "no-false-alarm":
        lemmas = [lem for lem in lemmas if not lem.trains]
    return [Task(str(lem.source), lem.id, i, s, budget) for lem in lemmas for i in range(len(lem.claims))
            for s in range(seeds)]


def _load_done(path: Path, task: Task) -> dict | None:
    """A task's stored result, or None when the file is missing, torn or another task's."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("task") != task.to_dict() or "result" not in data:
        return None
    return data["result"]


def run_sweep(name: str, tasks: list[Task], settings: Session, jobs: int = 1, scheduler: str | None = None,
              on_result: Callable[[Task, dict], None] | None = None) -> SweepRun:
    """Run the tasks of sweep ``name`` whose result is not yet stored under
    ``REPORT_DIR/sweeps/NAME/``, storing each as it finishes (so an interrupted
    sweep keeps what it finished, and a rerun continues)."""
    if settings.report_dir is None:
        raise ProofcheckError("a sweep needs a report folder for its results")
    folder = Path(settings.report_dir) / "sweeps" / name
    run = SweepRun(name, folder, tasks=tasks)
    todo = []
    for task in tasks:
        done = _load_done(folder / f"{task.name}.json", task)
        if done is None:
            todo.append(task)
        else:
            run.results[task.name] = done

    def store(n: int, data: dict):
        task = todo[n]
        text = json.dumps({"task": task.to_dict(), "result": data}, indent=1, sort_keys=True)
        atomic_write_text(folder / f"{task.name}.json", text)
        data = json.loads(text)["result"]  # as a rerun will read it back (tuples become lists)
        run.results[task.name] = data
        run.ran += 1
        if on_result is not None:
            on_result(task, data)

    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    work = run_mutant_task if any(t.mutant is not None for t in todo) else run_task
    run.workers = execute(todo, replace(settings, plots=False), store, jobs, scheduler, work=work)
    run.wall_s = time.perf_counter() - start
    return run


def lemma_results(run: SweepRun) -> dict[tuple[str, int], LemmaResult]:
    """The claim results of a (non-mutation) sweep merged per (lemma, seed) in claim
    order, as ``verify`` would report that lemma at that seed; lemmas with a task
    still missing are left out."""
    groups: dict[tuple[str, int], dict[int, LemmaResult]] = {}
    for task in run.tasks:
        data = run.results.get(task.name)
        if data is not None and task.mutant is None:
            groups.setdefault((task.lemma_id, task.seed), {})[task.claim] = LemmaResult.from_dict(data)
    claims = {}
    for task in run.tasks:
        claims.setdefault((task.lemma_id, task.seed), set()).add(task.claim)
    return {key: merge_claims([parts[i] for i in sorted(parts)]) for key, parts in groups.items()
            if set(parts) == claims[key]}


def false_alarms(run: SweepRun) -> list[LemmaResult]:
    """The (lemma, seed) results of a no-false-alarm sweep that are not PROVED or
    VERIFIED, or differ from a lemma's declared known finding: a REFUTED one is a
    bug in the checker or in the lemma, to report with its counterexample."""
    return [r for r in lemma_results(run).values()
            if not r.as_expected and r.verdict not in (Verdict.PROVED, Verdict.VERIFIED)]
