"""One run session: every check of a ``verify`` run or a sweep, as :class:`Task` s run by one
function (:func:`run_task`) in this process or on Dask distributed workers (a LocalCluster for
``--jobs N``, or a user's scheduler), with the same results wherever they ran."""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import traceback
from contextlib import contextmanager

import signal
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from proofcheck.context import QUICK, Budget, CheckContext, ReportLayout
from proofcheck.engine.discovery import load_lemma_file
from proofcheck.errors import LemmaFileError, ProofcheckError
from proofcheck.lang.lemma import Lemma
from proofcheck.verdict import CheckResult, LemmaResult, Verdict, combine
from proofcheck.errors import CheckTimeout


@dataclass(frozen=True)
class Session:
    """One run: what every check of it shares, built once by the CLI, the pytest
    plugin and adequacy alike (picklable, for worker processes).  With a
    ``report_dir`` the caches live under its ``.cache/`` and plots under
    ``plots/ID/`` (:class:`~proofcheck.context.ReportLayout`); without one
    nothing is cached or plotted."""

    budget: Budget = QUICK
    seed: int = 0
    device: str = "auto"
    report_dir: str | None = None
    timeout: float | None = None
    versions: dict = field(default_factory=dict, hash=False)
    plots: bool = True

    def context(self, lemma_id: str) -> CheckContext:
        if self.report_dir is None:
            return CheckContext(budget=self.budget, seed=self.seed, device=self.device, timeout=self.timeout,
                                lemma_id=lemma_id)
        layout = ReportLayout(self.report_dir)
        return CheckContext(budget=self.budget, seed=self.seed, device=self.device, cache_dir=layout.cache_dir,
                            plot_dir=layout.plot_dir(lemma_id) if self.plots else None,
                            timeout=self.timeout, lemma_id=lemma_id)

    def run(self, lemmas: list[Lemma], jobs: int = 1, on_done=None, on_check=None) -> list[LemmaResult]:
        """Every claim of every lemma, in ``jobs`` processes (see :func:`run_lemmas`)."""
        return run_lemmas(lemmas, self, jobs, on_done or (lambda r: None), on_check or (lambda: None))

    def run_lemma(self, lemma: Lemma) -> LemmaResult:
        """One lemma, in this process."""
        return run_lemma(lemma, self.context(lemma.id), self.versions)


def run_claim(lemma: Lemma, index: int, settings: Session) -> LemmaResult:
    """One claim of a lemma, run through :func:`run_lemma` (so that its error
    isolation and time limit apply) on a copy of the lemma with only that claim."""
    return run_lemma(replace(lemma, claims=[lemma.claims[index]]), settings.context(lemma.id), settings.versions)


def merge_claims(parts: list[LemmaResult]) -> LemmaResult:
    """The lemma's result from its claims' results, in claim order (verdict as
    in :func:`run_lemma`: informative probes never change it)."""
    checks = [c for part in parts for c in part.checks]
    return replace(parts[0], checks=checks, verdict=combine([c.verdict for c in checks if c.affects_verdict]),
                   timing_s=sum(p.timing_s for p in parts))


def warm_imports() -> None:
    """Import what checks use before any time limit starts: an import cut by
    the --timeout alarm would leave a half-initialised module behind for every
    later check in the same process (seen with matplotlib)."""
    import hypothesis  # noqa: F401
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch  # noqa: F401


#: how long a scheduler given by address may take to answer before the sweep gives up
CONNECT_TIMEOUT_S = 5


class SchedulerError(ProofcheckError):
    """The Dask scheduler at the given address could not be reached."""


@dataclass(frozen=True)
class Task:
    """One unit of work: claim ``claim`` of lemma ``lemma_id`` (defined in ``source``)
    at ``seed`` and ``budget``; with ``mutant``, that planted mutant of the claim
    (:func:`proofcheck.engine.adequacy.claim_mutants` order) instead of the claim."""

    source: str
    lemma_id: str
    claim: int
    seed: int
    budget: Budget
    mutant: int | None = None

    @property
    def name(self) -> str:
        mutant = "" if self.mutant is None else f"-m{self.mutant}"
        return f"{self.lemma_id}-c{self.claim}{mutant}-s{self.seed}-{self.budget.name}"

    def to_dict(self) -> dict:
        return {**asdict(self), "budget": asdict(self.budget)}


def reload_lemma(task: Task) -> Lemma:
    lemma = load_lemma_file(task.source)
    if lemma.id != task.lemma_id:
        raise LemmaFileError(f"{task.source}: now defines {lemma.id}, not {task.lemma_id}")
    return lemma


def run_task(task: Task, settings: Session, lemma: Lemma | None = None) -> dict:
    """Run one claim at the task's seed and budget: the one unit of work of ``verify``
    and of sweeps, in this process, in a LocalCluster worker and on a remote cluster.
    ``lemma`` skips the reload when the caller holds the lemma already (the
    single-process path; lemmas built in memory have no file).  Returns the claim's
    :class:`LemmaResult` as a dict."""
    warm_imports()
    settings = replace(settings, seed=task.seed, budget=task.budget)
    try:
        lemma = lemma or reload_lemma(task)
    except LemmaFileError as exc:
        check = CheckResult("claim", f"claim {task.claim + 1}", Verdict.ERROR, f"could not reload the lemma: {exc}",
                            seed=task.seed)
        return LemmaResult(task.lemma_id, task.lemma_id, {}, Verdict.ERROR, [check], task.budget.name,
                           task.seed).to_dict()
    return run_claim(lemma, task.claim, settings).to_dict()


def _setup_worker(threads: int) -> None:
    """Run in each Dask worker process before its tasks."""
    # the worker's own threads (heartbeats, the event loop) draw from the random module while a
    # search runs; Hypothesis would warn of a strategy using it, but no strategy of proofcheck does
    warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies")
    warm_imports()
    import torch
    # one worker per core already: more torch threads per worker would oversubscribe the cores
    torch.set_num_threads(threads)


def _client(jobs: int, scheduler: str | None):
    """A Dask client: on ``scheduler`` if given (a :class:`SchedulerError` within
    :data:`CONNECT_TIMEOUT_S` if it does not answer), else on a new LocalCluster of
    ``jobs`` processes with one thread each.  Returns (client, cluster or None)."""
    from distributed import Client, LocalCluster
    if scheduler is not None:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT_S), None
        except (OSError, TimeoutError, ValueError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {reason}") from None
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                           memory_limit=0, silence_logs=logging.ERROR)
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def execute(tasks: list[Task], settings: Session, on_result: Callable[[int, dict], None], jobs: int = 1,
            scheduler: str | None = None, lemmas: dict[int, Lemma] | None = None, work=run_task) -> int:
    """Run ``tasks``: in this process when ``jobs`` is 1 and no ``scheduler`` is
    given, else on Dask.  ``on_result(n, data)`` gets each task's index and
    ``work(task, settings, lemma)`` result (default :func:`run_task`) as it finishes,
    in any order; ``lemmas`` maps task indices to lemmas already loaded, for the
    in-process path.  Returns the number of Dask workers used (0: this process)."""
    if not tasks:
        return 0
    if jobs == 1 and scheduler is None:
        for n, task in enumerate(tasks):
            on_result(n, work(task, settings, (lemmas or {}).get(n)))
        return 0
    from distributed import as_completed
    client, cluster = _client(min(jobs, len(tasks)), scheduler)
    try:
        workers = len(client.scheduler_info(n_workers=-1)["workers"]) if scheduler else min(jobs, len(tasks))
        client.run(_setup_worker, max(1, (os.cpu_count() or 1) // max(workers, 1)))
        futures = client.map(work, tasks, settings=settings, pure=False)
        index = {f.key: n for n, f in enumerate(futures)}
        for future in as_completed(futures):
            on_result(index[future.key], future.result())
        return workers
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_lemmas(lemmas: list[Lemma], settings: Session, jobs: int, on_done, on_check,
               scheduler: str | None = None) -> list[LemmaResult]:
    """Run every claim of every lemma, each as one :class:`Task`
    through :func:`execute` (this process when ``jobs`` is 1,
    else Dask workers that reload the lemma files: one path, so the results do not
    depend on ``jobs``); call ``on_check()`` after each claim and ``on_done(result)``
    when a lemma's last claim is in.  Results come back in the order of ``lemmas``."""
    tasks = [(n, i) for n, lem in enumerate(lemmas) for i in range(len(lem.claims))]
    parts: dict[int, dict[int, LemmaResult]] = {n: {} for n in range(len(lemmas))}
    results: dict[int, LemmaResult] = {}

    def collect(t: int, data: dict):
        n, index = tasks[t]
        parts[n][index] = LemmaResult.from_dict(data)
        on_check()
        if len(parts[n]) == len(lemmas[n].claims):
            results[n] = merge_claims([parts[n][i] for i in range(len(lemmas[n].claims))])
            on_done(results[n])

    work = [Task(str(lemmas[n].source), lemmas[n].id, i, settings.seed, settings.budget) for n, i in tasks]
    execute(work, settings, collect, jobs, scheduler, lemmas={t: lemmas[n] for t, (n, _) in enumerate(tasks)})
    return [results[n] for n in range(len(lemmas))]


class _Alarm(BaseException):
    """The time-limit signal inside a check.  A BaseException, so that no
    ``except Exception`` in a check -- Hypothesis's test runner included, which
    would replay the example and report a FlakyFailure (an ERROR) -- can catch
    it; :func:`time_limit` turns it into :class:`CheckTimeout` at its boundary."""


def _is_alarm(exc: BaseException) -> bool:
    """The alarm itself, or an exception group holding it (Hypothesis groups the
    failures of several explicit examples)."""
    return isinstance(exc, _Alarm) or any(_is_alarm(e) for e in getattr(exc, "exceptions", ()))


@contextmanager
def _alarm_in_thread(seconds: float):
    """Raise :class:`_Alarm` in this (non-main) thread after ``seconds``: a Dask worker
    runs its tasks in a thread, where no signal handler can run.  The alarm arrives at
    the thread's next Python bytecode, so a long call into C finishes first."""
    ident, lock, state = threading.get_ident(), threading.Lock(), {"done": False}

    def fire():
        with lock:
            if not state["done"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Alarm))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
            timer.cancel()
            # an alarm set but not yet delivered must not strike the code after the limit
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)


@contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`CheckTimeout` after ``seconds``: by SIGALRM in the main thread
    (POSIX), by an asynchronous exception in any other thread (Dask workers)."""
    if not seconds:
        yield
        return
    main = threading.current_thread() is threading.main_thread()
    limit = _sigalrm(seconds) if main and hasattr(signal, "SIGALRM") else _alarm_in_thread(seconds)
    try:
        with limit:
            yield
    except BaseException as exc:
        if _is_alarm(exc):
            raise CheckTimeout(f"{what} ran past its time limit of {seconds:g} s") from None
        raise


@contextmanager
def _sigalrm(seconds: float):
    def on_alarm(signum, frame):
        raise _Alarm()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_lemma(lemma: Lemma, ctx: CheckContext, versions: dict | None = None) -> LemmaResult:
    """Run every claim of a lemma.  A claim that raises or times out becomes one
    ERROR / INCONCLUSIVE check; the other claims still run."""
    ctx = replace(ctx, lemma_id=lemma.id)
    start = time.perf_counter()
    checks: list[CheckResult] = []
    for claim in lemma.claims:
        t0 = time.perf_counter()
        try:
            with time_limit(ctx.timeout, f"{lemma.id} {claim.kind} check"):
                results = claim.check(lemma, ctx)
        except CheckTimeout as exc:
            results = [CheckResult(claim.kind, claim.describe() or claim.kind, Verdict.INCONCLUSIVE, str(exc),
                                   evidence={"reason": "timeout", "timeout_s": ctx.timeout}, seed=ctx.seed)]
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failing check is reported for this lemma only
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            results = [CheckResult(claim.kind, claim.describe() or claim.kind, Verdict.ERROR,
                                   f"the check raised {tb}", evidence={"exception": tb}, seed=ctx.seed)]
        for r in results:
            r.timing_s = time.perf_counter() - t0 if len(results) == 1 else r.timing_s
        checks.extend(results)
    verdict = combine([c.verdict for c in checks if c.affects_verdict])
    return LemmaResult(lemma_id=lemma.id, title=lemma.title, provenance=lemma.provenance.to_dict(), verdict=verdict,
                       checks=checks, budget=ctx.budget.name, seed=ctx.seed, statement=lemma.statement_text(),
                       assumptions=[a.to_dict() for a in lemma.assumptions], source=lemma.source,
                       versions=versions or {}, timing_s=time.perf_counter() - start,
                       expected={"verdict": lemma.expect, "reason": lemma.expect_reason} if lemma.expect else None)
