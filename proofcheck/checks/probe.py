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
from proofcheck.setting.trainer import TrainConfig, coords_at, evaluation_batch
from proofcheck.errors import TrainingDiverged
from proofcheck.setting.trajcache import cached_train
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


BUDGETED = ("area_wide_reached",)


def probe_conclusions(case: TrainCase, steps: int, eps: float, fraction: float, seed: int = 0,
                      cache_dir=None) -> dict[str, bool]:
    """Train ``case`` (the full d x d model when the embeddings are not
    orthonormal, since correlation coordinates assume them) and say which
    conclusions of LEM-G5 / THM-MAIN-v1 hold on the run."""
    inst = case.instance
    cfg = TrainConfig(steps=steps, eta=case.eta, log_every=max(1, steps // 20), seed=seed, device="cpu",
                      parametrisation="coords" if inst.orthonormal else "full")
    try:
        traj = cached_train(inst, cfg, cache_dir).trajectory
    except TrainingDiverged:
        return {"no_divergence": False, "target_phi_monotone": False, "loss_descends": False,
                "area_wide_reached": False}
    tphi = traj.target_phi()
    atol = 64 * EPS * max(1.0, float(np.abs(tphi).max()))
    batch = evaluation_batch(inst, 2048, seed + 1)
    f = th.target_mass_fraction(*coords_at(traj, -1), inst, batch, eps)
    gap = th.loss_gap(*coords_at(traj, -1), inst, batch)
    reached = (math.isnan(f.value) or f.lo >= fraction) and gap.hi <= eps
    return {"no_divergence": True, "target_phi_monotone": bool((np.diff(tphi, axis=0) >= -atol).all()),
            "loss_descends": bool((np.diff(traj.loss) <= 1e-12 * np.abs(traj.loss[:-1])).all()),
            "area_wide_reached": bool(reached)}


@dataclass
class TrajectoryProbe(Claim):
    """Assumption probing on trajectories: Hypothesis draws small cases inside
    all of the lemma's assumptions (where the conclusions must hold within the
    probe's step budget) and, for each assumption with a ``violate`` map,
    cases that break just that one; it records which conclusion fails and the
    smallest failing case Hypothesis finds (shrinking at the full budget only,
    since every example trains a model).

    Inside the assumptions a failing universal conclusion (divergence, LEM-G5,
    descent) is REFUTED, an unreached area-wide pattern INCONCLUSIVE.  Outside,
    results are informative (``affects_verdict=False``): REFUTED means the
    conclusion does fail there, i.e. the assumption is doing work."""

    steps: int = 150
    eps: float = 0.05
    fraction: float = 0.95
    kind = "probe"

    def describe(self) -> str:
        return "assumption probes on trained models"

    def examples(self, ctx: CheckContext) -> int:
        return min(ctx.budget.examples, ctx.budget.trained_cases)

    def _search(self, strategy, ctx: CheckContext, memo: dict, violate=None):
        """A case whose conclusions fail (``violate=None``), or whose violated copy
        fails conclusions that the case itself meets (so the failure is due to
        the violation, not to the drawn instance).  Returns (case, failures)."""
        def failed(case) -> list[str]:
            key = json.dumps(case.to_dict(), sort_keys=True)
            if key not in memo:
                memo[key] = probe_conclusions(case, self.steps, self.eps, self.fraction, ctx.seed, ctx.cache("trajectories"))
            return [c for c, ok in memo[key].items() if not ok]

        def new_failures(case) -> list[str]:
            if violate is None:
                return failed(case)
            return [c for c in failed(violate(case)) if c not in failed(case)]

        phases = [Phase.generate] + ([Phase.shrink] if ctx.budget.shrink_trained else [])
        cfg = settings(max_examples=self.examples(ctx), derandomize=True, database=None, phases=phases,
                       deadline=None, suppress_health_check=list(HealthCheck))
        try:
            case = find(strategy, lambda c: bool(new_failures(c)), settings=cfg)
        except NoSuchExample:
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
            case, fails = self._search(strategy, ctx, memo, a.violate if a is not None else None)
            evidence = {"examples": self.examples(ctx), "steps": self.steps, "eps": self.eps,
                        "cases_trained": len(memo), "shrunk": shrunk, "failing_conclusions": fails,
                        "budget": ctx.budget.name}
            cex = None
            if case is not None:
                shown = case if a is None else a.violate(case)
                cex = {**shown.to_dict(), "describe": shown.instance.describe(), "failing_conclusions": fails}
                if a is not None:
                    evidence["assumption"] = a.to_dict()
                    cex["inside_case"] = case.to_dict()
            if case is None:
                verdict = Verdict.VERIFIED
                summary = (f"no conclusion failed on {self.examples(ctx)} drawn cases ({self.steps} GD steps each)"
                           if a is None else f"violating it broke no conclusion that held, on "
                           f"{self.examples(ctx)} drawn cases ({self.steps} GD steps each)")
            elif a is None and not set(fails) & set(UNIVERSAL):
                verdict = Verdict.INCONCLUSIVE
                summary = f"{', '.join(fails)} not within {self.steps} steps on {which} case {cex['describe']}"
            else:
                verdict = Verdict.REFUTED
                summary = (f"{', '.join(fails)} fail(s) on {which} case {cex['describe']} (eta={shown.eta:g})"
                           + ("" if a is None else ", while the same case inside the assumption meets them"))
            # inside the assumptions this is a check of the lemma, not a probe: it has the lemma's verdict rule
            kind, name = ("trajectory", f"[{lemma.tag}] trained cases {label}") if a is None else \
                (self.kind, f"[{lemma.tag}] probe {label}")
            out.append(CheckResult(kind, name, verdict, summary, evidence=evidence,
                                   counterexample=cex, seed=ctx.seed, timing_s=time.perf_counter() - t0,
                                   affects_verdict=a is None))
        return out
