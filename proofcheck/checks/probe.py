"""Probes: what happens to a conclusion *outside* one assumption (check kind "probe").

A probe has one meaning and one verdict rule, on cases and on trained runs alike.
For each assumption with a ``violate`` map, Hypothesis draws cases that satisfy
the lemma's other assumptions and violate just that one, and evaluates the
conclusion there.  A probe never changes the lemma's verdict
(``affects_verdict=False``): REFUTED means "outside <assumption> the conclusion
fails: the assumption is needed"; VERIFIED means "the conclusion held on all n
draws outside <assumption>".

- :class:`AssumptionProbe` probes a case-based claim; a failure is shrunk to a
  minimal case (the strategies draw P, then the clusters, then the areas) and
  saved so that :func:`proofcheck.engine.counterexamples.replay` re-evaluates it.
- :class:`TrajectoryProbe` probes the conclusions of trajectory lemmas (LEM-G5,
  THM-MAIN-v1) on small trained cases.  It also trains cases *inside* all the
  assumptions; that result is a check of the lemma (kind "trajectory", it
  affects the verdict), not a probe.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample
from proofcheck.setting import measures as th

import json
import time
from typing import Sequence

from proofcheck.engine.caseclaim import CaseClaim
from proofcheck.engine.search import search_cases
from proofcheck.lang.assumptions import explicit_cases, violating
from proofcheck.errors import UsageError
from proofcheck.context import CheckContext
from proofcheck.lang.lemma import Claim, Lemma
from proofcheck.verdict import CheckResult, Verdict
from proofcheck.lang.lemma import Assumption
from proofcheck.setting.instance import Instance
from proofcheck.setting.trainer import TrainConfig, coords_at, evaluation_batch, train
from proofcheck.errors import TrainingDiverged
from proofcheck.tolerance import EPS


class AssumptionProbe(Claim):
    """Probe ``claim`` outside each of the lemma's assumptions that can be
    violated (or only those in ``names``)."""

    kind = "probe"

    def __init__(self, claim: CaseClaim, names: Sequence[str] | None = None):
        if not isinstance(claim, CaseClaim):
            raise UsageError(f"{type(claim).__name__} cannot be probed: it has no evaluate_case()")
        self.claim = claim
        self.names = None if names is None else tuple(names)
        self.label = f"probe: {claim.label}"

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        assumptions = self.claim.assumptions_for(lemma)
        chosen = [a for a in assumptions if a.violate is not None and (self.names is None or a.name in self.names)]
        if self.names is not None and len(chosen) < len(self.names):
            missing = sorted(set(self.names) - {a.name for a in chosen})
            raise UsageError(f"{lemma.id}: cannot probe {missing}: not assumptions of the claim, or not violable")
        return [self.probe(lemma, ctx, a, assumptions) for a in chosen]

    def probe(self, lemma: Lemma, ctx: CheckContext, assumption, assumptions) -> CheckResult:
        name = f"{self.claim.describe()} outside {assumption.name}"
        scope = f"outside {assumption.name} (the other assumptions held)"
        if self.claim.in_coords and not getattr(assumption, "seen_in_coords", True):
            reason = (f"the claim is evaluated in correlation coordinates, which cannot see {assumption.name}; "
                      "probe it with a full-model claim")
            return CheckResult(self.kind, name, Verdict.INCONCLUSIVE, f"probe {name}: {reason}",
                               evidence={"reason": reason, "assumption": assumption.name}, seed=ctx.seed,
                               affects_verdict=False)
        start = time.perf_counter()
        strategy = violating(assumption, assumptions, **self.claim.draw)
        others = [a for a in assumptions if a.name != assumption.name]
        explicit = explicit_cases(others, violate=assumption) if self.claim.explicit else ()
        found = search_cases(strategy, self.claim.evaluate_case, ctx.budget.examples, ctx.seed, explicit)
        result = self.claim.result(lemma, ctx, found, scope, kind=self.kind, name=name, affects_verdict=False)
        result.evidence["assumption"] = assumption.name
        result.timing_s = time.perf_counter() - start
        if result.verdict is Verdict.REFUTED:
            inst = found.failure_case.instance
            result.summary = (f"outside {assumption.name} the conclusion fails: the assumption is needed "
                              f"(minimal case P={inst.P}, K={inst.K}, areas {list(inst.N)}; "
                              f"margin {found.failure.margin:.3g})")
        elif result.verdict is Verdict.VERIFIED:
            result.summary = (f"the conclusion held on all {found.cases} draws outside {assumption.name} "
                              f"({found.points} points; smallest margin {found.smallest.margin:.3g})")
        return result


@dataclass(frozen=True)
class TrainCase:
    """What a trajectory lemma's assumptions are about: an instance and the GD
    step size (the [R] forms assume eta small, SPEC DEF-GD)."""

    instance: Instance
    eta: float

    def to_dict(self) -> dict:
        return {"instance": self.instance.to_dict(), "eta": self.eta}


#: the conclusions a probe looks at; "eventually" ones are budgeted: reached within the probe's steps
UNIVERSAL = ("no_divergence", "target_phi_monotone", "loss_descends")


class OverBudget(Exception):
    """A case whose step budget, derived from T*, is over the probe's cap: it is not trained at all, since a
    truncated run would report 'not reached' for a budget it never had."""

    def __init__(self, case: TrainCase, budget: dict):
        super().__init__(f"{budget['steps']} steps")
        self.case, self.budget = case, budget


def probe_conclusions(case: TrainCase, steps: int, eps: float, fraction: float, seed: int = 0,
                      log_every: int | None = None, min_steps: int = 0) -> dict:
    """Train ``case`` (the full d x d model when the embeddings are not orthonormal, since correlation
    coordinates assume them) for at most ``steps`` GD steps, stopping at the first logged step past
    ``min_steps`` where the area-wide pattern of THM-MAIN-v1 is reached, and say which conclusions of
    LEM-G5 / THM-MAIN-v1 hold on the run.  Returns ``{"conclusions": {name: bool}, "steps_trained",
    "time_T_star", "parametrisation"}``: T* is eta times the first logged step (every ``log_every``)
    with the pattern, an upper bracket to that resolution; None if it was not reached."""
    inst = case.instance
    cfg = TrainConfig(steps=steps, eta=case.eta, log_every=log_every or max(1, steps // 20), seed=seed,
                      device="cpu", parametrisation="coords" if inst.orthonormal else "full")
    batch = evaluation_batch(inst, 2048, seed + 1)
    first: list[int] = []

    def reached(Phi, Ups) -> bool:
        f = th.target_mass_fraction(Phi, Ups, inst, batch, eps)
        return bool((math.isnan(f.value) or f.lo >= fraction) and th.loss_gap(Phi, Ups, inst, batch).hi <= eps)

    def stop(t, Phi, Ups) -> bool:
        if not first and reached(Phi, Ups):
            first.append(t)
        return bool(first) and t >= min_steps

    try:
        traj = train(inst, cfg, stop=stop)
    except TrainingDiverged as exc:
        return {"conclusions": dict.fromkeys(UNIVERSAL + ("area_wide_reached",), False),
                "steps_trained": exc.step, "time_T_star": None, "parametrisation": cfg.parametrisation}
    if not first and reached(*coords_at(traj, -1)):
        first.append(int(traj.step[-1]))
    tphi = traj.target_phi()
    atol = 64 * EPS * max(1.0, float(np.abs(tphi).max()))
    return {"conclusions": {"no_divergence": True, "target_phi_monotone": bool((np.diff(tphi, axis=0) >= -atol).all()),
                            "loss_descends": bool((np.diff(traj.loss) <= 1e-12 * np.abs(traj.loss[:-1])).all()),
                            "area_wide_reached": bool(first)},
            "steps_trained": int(traj.step[-1]), "time_T_star": case.eta * first[0] if first else None,
            "parametrisation": cfg.parametrisation}


@dataclass
class TrajectoryProbe(Claim):
    """Assumption probing on trajectories: Hypothesis draws small cases inside
    all of the lemma's assumptions (where the conclusions must hold within the
    probe's step budget) and, for each assumption with a ``violate`` map,
    cases that break just that one; it records which conclusion fails and the
    smallest failing case Hypothesis finds (shrinking at the full budget only,
    since every example trains a model).

    The budget comes from the dynamics (issue 11 item 7): a case inside the assumptions trains for
    ``factor`` times ``t_star``, an estimate of the time t = eta x steps to T*(eps) on such cases (its
    ``t_star_source`` says where it was measured); its violated copy, for ``factor`` times the T* measured
    on that inside case (the comparable instance), or the estimate where the inside case did not reach
    it.  Runs stop once the pattern is reached, so the budget costs only where it is needed, but not
    before ``min_steps``: LEM-G5 and descent hold at every step, and their horizon must not shrink
    because a case reaches the pattern early (on these cases the skewed-embedding violation of LEM-G5
    appears after the pattern, within the first 150 steps at eta = 200).  A case
    whose budget is over ``max_steps`` steps is not trained: the probe says so (INCONCLUSIVE) instead of
    truncating.  T* is resolved to ``resolution`` times the time a budget is derived from (the log interval).

    Inside the assumptions a failing universal conclusion (divergence, LEM-G5,
    descent) is REFUTED, an unreached area-wide pattern INCONCLUSIVE: the budget ran out.  Outside,
    results are informative (``affects_verdict=False``): REFUTED means the
    conclusion does fail there, i.e. the assumption is doing work."""

    t_star: float
    t_star_source: str
    factor: float = 10.0
    #: GD on the probes' P <= 5 cases takes 1-2 ms a step on one core: 20,000 steps is about half a minute a case
    max_steps: int = 20_000
    min_steps: int = 150
    resolution: float = 0.05
    eps: float = 0.05
    fraction: float = 0.95
    kind = "probe"

    def describe(self) -> str:
        return "assumption probes on trained models"

    def examples(self, ctx: CheckContext) -> int:
        return min(ctx.budget.examples, ctx.budget.trained_cases)

    def budget(self, case: TrainCase, t_star: float, source: str) -> dict:
        """The step budget of ``case`` from a time to T*, and its derivation (raises :class:`OverBudget`)."""
        steps = math.ceil(self.factor * t_star / case.eta)
        out = {"steps": steps, "time": self.factor * t_star, "t_star": t_star, "factor": self.factor,
               "eta": case.eta, "source": source,
               "log_every": max(1, math.floor(self.resolution * t_star / case.eta))}
        if steps > self.max_steps:
            raise OverBudget(case, out)
        return out

    def derivation(self) -> dict:
        return {"factor": self.factor, "t_star_estimate": self.t_star, "t_star_source": self.t_star_source,
                "max_steps": self.max_steps, "min_steps": self.min_steps, "resolution": self.resolution,
                "rule": "inside the assumptions: factor x the estimate; a violated copy: factor x the T* measured "
                        "on its inside case (the first logged step reaching the pattern, an upper bracket), or "
                        "the estimate where that case did not reach it; steps = budget time / eta; a run stops "
                        "where the pattern is reached, but not before min_steps (the every-step conclusions' "
                        "horizon)"}

    def judge(self, a, case, fails, used, which, n) -> tuple[Verdict, str, dict | None]:
        """(verdict, summary, counterexample) of one probe's search."""
        steps = sorted(r["budget"]["steps"] for r in used)
        span = f"{steps[0]}" if steps[0] == steps[-1] else f"{steps[0]}-{steps[-1]}"
        each = f"budgets of {span} GD steps from {self.factor:g} x T*"
        if case is None:
            return Verdict.VERIFIED, (f"no conclusion failed on {n} drawn cases ({each})"
                                      if a is None else f"violating it broke no conclusion that held, on "
                                      f"{n} drawn cases ({each})"), None
        shown = case if a is None else a.violate(case)
        cex = {**shown.to_dict(), "describe": shown.instance.describe(), "failing_conclusions": fails}
        if a is not None:
            cex["inside_case"] = case.to_dict()
        if a is None and not set(fails) & set(UNIVERSAL):
            budget = next(r["budget"] for r in used if r["case"] == cex["describe"])
            return Verdict.INCONCLUSIVE, (f"{', '.join(fails)} not within its budget of {budget['steps']} steps "
                                          f"({self.factor:g} x T* = {budget['time']:.3g}) on {which} case "
                                          f"{cex['describe']}"), cex
        return Verdict.REFUTED, (f"{', '.join(fails)} fail(s) on {which} case {cex['describe']} (eta={shown.eta:g})"
                                 + ("" if a is None else ", while the same case inside the assumption meets them")), cex

    def _search(self, strategy, ctx: CheckContext, memo: dict, used: list, violate=None):
        """A case whose conclusions fail (``violate=None``), or whose violated copy
        fails conclusions that the case itself meets (so the failure is due to
        the violation, not to the drawn instance).  Returns (case, failures);
        ``used`` collects the runs looked at."""
        def run(case, budget) -> dict:
            key = json.dumps([case.to_dict(), budget["steps"]], sort_keys=True)
            if key not in memo:
                memo[key] = {**probe_conclusions(case, budget["steps"], self.eps, self.fraction, ctx.seed,
                                                 budget["log_every"], self.min_steps),
                             "case": case.instance.describe(), "budget": budget}
            if memo[key] not in used:
                used.append(memo[key])
            return memo[key]

        def inside(case) -> dict:
            return run(case, self.budget(case, self.t_star, self.t_star_source))

        def failed(record) -> list[str]:
            return [c for c, ok in record["conclusions"].items() if not ok]

        def new_failures(case) -> list[str]:
            own = inside(case)
            if violate is None:
                return failed(own)
            measured = own["time_T_star"]
            budget = self.budget(violate(case), measured or self.t_star,
                                 "T* measured on the same case inside the assumption" if measured else
                                 f"not reached inside: the estimate ({self.t_star_source})")
            return [c for c in failed(run(violate(case), budget)) if c not in failed(own)]

        phases = [Phase.generate] + ([Phase.shrink] if ctx.budget.shrink_trained else [])
        cfg = settings(max_examples=self.examples(ctx), derandomize=True, database=None, phases=phases,
                       deadline=None, suppress_health_check=list(HealthCheck))
        over: list[OverBudget] = []

        def fails(c) -> bool:
            # raised inside Hypothesis's search it would be shrunk as a failure: kept and re-raised after it
            try:
                return bool(new_failures(c))
            except OverBudget as exc:
                over.append(exc)
                return False
        try:
            case = find(strategy, fails, settings=cfg)
        except NoSuchExample:
            if over:
                raise over[0] from None
            return None, []
        return case, new_failures(case)

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        if not lemma.assumptions:
            return [CheckResult(self.kind, f"[{lemma.tag}] {self.describe()}", Verdict.INCONCLUSIVE,
                                "the lemma declares no assumptions to probe", evidence={"reason": "no assumptions"},
                                seed=ctx.seed)]
        memo: dict = {}
        out = []
        shrunk = ctx.budget.shrink_trained
        which = "smallest" if shrunk else "first"
        strategy = lemma.assumptions[0].strategy()
        probes: list[tuple[str, Assumption | None]] = [("inside all assumptions", None)] + \
            [(f"violating {a.name}", a) for a in lemma.assumptions if a.violate is not None]
        for label, a in probes:
            t0 = time.perf_counter()
            used: list = []
            evidence = {"examples": self.examples(ctx), "eps": self.eps, "shrunk": shrunk, "budget": ctx.budget.name,
                        "step_budget": self.derivation(), "runs": used}
            if a is not None:
                evidence["assumption"] = a.to_dict()
            try:
                case, fails = self._search(strategy, ctx, memo, used, a.violate if a is not None else None)
            except OverBudget as over:
                verdict, cex = Verdict.INCONCLUSIVE, {**over.case.to_dict(), "describe": over.case.instance.describe(),
                                                      "step_budget": over.budget}
                summary = (f"not trained: the budget derived from T* is {over.budget['steps']} GD steps "
                           f"({self.factor:g} x T* = {over.budget['time']:.3g} at eta = {over.case.eta:g}) on "
                           f"{cex['describe']}, over the cap of {self.max_steps}; raise max_steps or give a "
                           "smaller T* estimate rather than truncate")
                fails = []
            else:
                verdict, summary, cex = self.judge(a, case, fails, used, which, self.examples(ctx))
            # the estimate is a measurement made elsewhere: a case slower than it shows the estimate is stale
            slower = [r["case"] for r in used if r["budget"]["t_star"] == self.t_star
                      and r["time_T_star"] is not None and r["time_T_star"] > self.t_star]
            evidence.update(cases_trained=len(memo), failing_conclusions=fails, slower_than_estimate=slower)
            # inside the assumptions this is a check of the lemma, not a probe: it has the lemma's verdict rule
            kind, name = ("trajectory", f"[{lemma.tag}] trained cases {label}") if a is None else \
                (self.kind, f"[{lemma.tag}] probe {label}")
            out.append(CheckResult(kind, name, verdict, summary, evidence=evidence,
                                   counterexample=cex, seed=ctx.seed, timing_s=time.perf_counter() - t0,
                                   affects_verdict=a is None))
        return out
