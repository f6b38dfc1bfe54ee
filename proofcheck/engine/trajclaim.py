"""The base class of trajectory check kinds: claims about what gradient descent does, evaluated on
trained runs (cached), one CheckResult per run.  A run that diverges is INCONCLUSIVE naming the step."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Mapping, Sequence
from proofcheck.errors import LemmaFileError, TrainingDiverged
from proofcheck.lang.lemma import Claim, Lemma
from proofcheck.context import Budget, CheckContext
from proofcheck.setting.trainer import Trajectory
from proofcheck.setting.trajcache import cached_train
from proofcheck.verdict import CheckResult, Verdict
from proofcheck.setting.runs import Run, regime


@dataclass
class TrajectoryClaim(Claim):
    """Base of the trajectory check kinds: trains or loads each run of the
    budget and calls :meth:`evaluate`.  ``runs`` maps a
    :class:`~proofcheck.context.Budget` (QUICK, FULL) to its runs; a budget
    without runs is INCONCLUSIVE with a reason.  Every run trains with the
    session's seed (``--seed``), which fixes its Monte Carlo training batch,
    any random Q(0) and the evaluation batch."""

    runs: Mapping[Budget, Sequence[Run]]
    kind = "trajectory"

    def __post_init__(self):
        bad = [k for k in self.runs if not isinstance(k, Budget)]
        if bad:
            raise LemmaFileError(f"{type(self).__name__}: runs must be keyed by budgets (QUICK, FULL from "
                                 f"proofcheck.api), got {bad!r}")

    def mutated(self, expression=None, **changes) -> "TrajectoryClaim":
        """A copy with fields changed: the planted wrong variants (e.g.
        ``direction="nonincreasing"``)."""
        if expression is not None:
            return super().mutated(expression)
        return replace(self, **changes)

    def evaluate(self, lemma: Lemma, traj: Trajectory, run: Run, ctx: CheckContext) -> CheckResult:
        raise NotImplementedError  # pragma: no cover - abstract

    def result(self, lemma: Lemma, run: Run, verdict: Verdict, summary: str, **fields) -> CheckResult:
        return CheckResult(self.kind, f"[{lemma.tag}] {self.describe()} -- {run.instance.name}", verdict, summary,
                           seed=run.config.seed, **fields)

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        runs = self.runs.get(ctx.budget, ())
        if not runs:
            planned = ", ".join(b.name for b in self.runs) or "none"
            return [CheckResult(self.kind, f"[{lemma.tag}] {self.describe()}", Verdict.INCONCLUSIVE,
                                f"no trajectory is planned for the {ctx.budget.name} budget (planned: {planned})",
                                evidence={"reason": "no run for this budget", "budget": ctx.budget.name},
                                seed=ctx.seed)]
        out = []
        for run in runs:
            run = replace(run, config=replace(run.config, device=ctx.device, seed=ctx.seed))
            t0 = time.perf_counter()
            try:
                trained = cached_train(run.instance, run.config, ctx.cache("trajectories"))
            except TrainingDiverged as exc:
                out.append(self.result(lemma, run, Verdict.INCONCLUSIVE, f"{exc}; a diverged run gives no verdict",
                                       evidence={"reason": "training diverged", "diverged_at_step": exc.step,
                                                 "budget": ctx.budget.name, "run": run.describe()},
                                       timing_s=time.perf_counter() - t0))
                continue
            r = self.evaluate(lemma, trained.trajectory, run, ctx)
            r.evidence.update(regime(trained.trajectory))
            r.evidence.update(budget=ctx.budget.name, run=run.describe(), cached=trained.cached,
                              train_s=trained.seconds, device=trained.trajectory.meta.get("device"))
            r.timing_s = time.perf_counter() - t0
            out.append(r)
        return out


def _plot_name(ctx: CheckContext, run: Run, what: str) -> str:
    return f"{ctx.lemma_id or 'lemma'}-{run.instance.name}-{what}.png"
