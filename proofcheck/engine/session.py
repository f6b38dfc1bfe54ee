"""One run session: every check of a ``verify`` run, in one process or many, with the same
results whatever the number of processes."""
from __future__ import annotations

import threading
import traceback
from contextlib import contextmanager

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field, replace
from proofcheck.errors import LemmaFileError
from proofcheck.context import QUICK, Budget, CheckContext, ReportLayout
from proofcheck.lang.lemma import Lemma
from proofcheck.engine.discovery import load_lemma_file
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


def _worker_init(jobs: int) -> None:
    # Ctrl-C is the parent's to handle: it terminates the pool and keeps the reports
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_imports()
    import torch
    # one process per core already: more torch threads per worker would oversubscribe the cores
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))


def _worker_task(task: tuple[str, str, int, int, Session]) -> tuple[int, int, dict]:
    """Run in a worker process: reload the lemma file (lemma objects hold user
    code and do not pickle) and run one claim."""
    source, lemma_id, lemma_no, index, settings = task
    try:
        lemma = load_lemma_file(source)
        if lemma.id != lemma_id:
            raise LemmaFileError(f"{source}: now defines {lemma.id}, not {lemma_id}")
        result = run_claim(lemma, index, settings)
    except LemmaFileError as exc:
        check = CheckResult("claim", f"claim {index + 1}", Verdict.ERROR, f"could not reload the lemma: {exc}",
                            seed=settings.seed)
        result = LemmaResult(lemma_id, lemma_id, {}, Verdict.ERROR, [check], settings.budget.name, settings.seed)
    return lemma_no, index, result.to_dict()


def run_lemmas(lemmas: list[Lemma], settings: Session, jobs: int, on_done, on_check) -> list[LemmaResult]:
    """Run every claim of every lemma (in ``jobs`` processes when > 1); call
    ``on_check()`` after each claim and ``on_done(result)`` when a lemma's last
    claim is in.  Results come back in the order of ``lemmas``."""
    parts: dict[int, dict[int, LemmaResult]] = {n: {} for n in range(len(lemmas))}
    results: dict[int, LemmaResult] = {}

    def collect(n: int, index: int, result: LemmaResult):
        parts[n][index] = result
        on_check()
        if len(parts[n]) == len(lemmas[n].claims):
            results[n] = merge_claims([parts[n][i] for i in range(len(lemmas[n].claims))])
            on_done(results[n])

    tasks = [(n, i) for n, lem in enumerate(lemmas) for i in range(len(lem.claims))]
    if jobs == 1 or not tasks:
        warm_imports()
        for n, i in tasks:
            collect(n, i, run_claim(lemmas[n], i, settings))
    else:
        # spawn, not fork: the parent may hold torch/OpenMP threads that a fork would copy half-locked
        jobs = min(jobs, len(tasks)) or 1
        pool = multiprocessing.get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(jobs,))
        try:
            work = [(str(lemmas[n].source), lemmas[n].id, n, i, settings) for n, i in tasks]
            for n, i, data in pool.imap_unordered(_worker_task, work):
                collect(n, i, LemmaResult.from_dict(data))
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
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
def time_limit(seconds: float | None, what: str):
    """Raise :class:`CheckTimeout` after ``seconds`` (main thread, POSIX only;
    elsewhere the limit is not enforced and the context says so by doing nothing)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise _Alarm()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except BaseException as exc:
        if _is_alarm(exc):
            raise CheckTimeout(f"{what} ran past its time limit of {seconds:g} s") from None
        raise
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


