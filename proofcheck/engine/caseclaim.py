"""The base class of case-based check kinds: a claim whose conclusion is evaluated on one drawn case."""
from __future__ import annotations

from proofcheck.engine.counterexamples import save_counterexample
from proofcheck.engine.search import Outcome

from typing import Sequence
from proofcheck.lang.cases import Case
from proofcheck.setting.instance import Instance
from proofcheck.lang.lemma import Assumption, Claim, Lemma
from proofcheck.context import CheckContext
from proofcheck.verdict import CheckResult, Verdict
from proofcheck.engine.search import Search, search_cases
from proofcheck.lang.assumptions import by_name, explicit_cases, satisfying


def sampled_scope(instances: Sequence[Instance], sampled: str) -> dict:
    """What a numeric result compared (``evidence["scope"]``, read by
    :func:`proofcheck.verdict.scope_line`): the largest N of a cluster, every N and key
    set met, and the number of cases."""
    counts = sorted({n for inst in instances for n in inst.N})
    return {"sampled": sampled, "areas": max(counts, default=0), "area_counts": counts,
            "key_sets": sorted({inst.key_set for inst in instances}), "cases": len(instances)}


class CaseClaim(Claim):
    """A claim whose conclusion can be evaluated on one case (:meth:`evaluate_case`).

    :meth:`check` searches cases satisfying the lemma's assumptions plus the
    claim's own ``assumes`` (names or assumptions), VERIFIED with the smallest
    margin found, REFUTED with the shrunk counterexample (saved under
    ``ctx.cache_dir`` so :func:`proofcheck.engine.counterexamples.replay` replays it), or
    INCONCLUSIVE with the reason.  :mod:`proofcheck.checks.probe` calls
    :meth:`evaluate_case` outside the assumptions."""

    #: extra assumptions (names in :data:`LIBRARY` or Assumption objects) this claim needs
    assumes: Sequence = ()
    #: keyword overrides for the instance strategy (e.g. ``{"bases": ("rotated",)}``)
    draw: dict = {}
    #: whether the search starts from :func:`explicit_cases`
    explicit: bool = True
    #: whether this claim is evaluated in correlation coordinates (then it cannot see
    #: assumptions with ``seen_in_coords=False``)
    in_coords: bool = True

    def evaluate_case(self, case: Case) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def tolerance(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def assumptions_for(self, lemma: Lemma) -> list[Assumption]:
        own = [by_name(a)[0] if isinstance(a, str) else a for a in self.assumes]
        names = {a.name for a in lemma.assumptions}
        return list(lemma.assumptions) + [a for a in own if a.name not in names]

    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        return [self.searched_result(lemma, ctx, "Hypothesis cases")]

    def searched_result(self, lemma: Lemma, ctx: CheckContext, sampled: str, **fields) -> CheckResult:
        """Search cases inside the assumptions and say what was sampled: ``evidence["scope"]``
        is the :func:`sampled_scope` of every instance evaluated (drawn, explicit or shrunk)."""
        assumptions = self.assumptions_for(lemma)
        names = [a.name for a in assumptions]
        seen: list[Instance] = []

        def evaluate(case: Case) -> Outcome:
            seen.append(case.instance)
            return self.evaluate_case(case)

        found = search_cases(satisfying(assumptions, **self.draw), evaluate, ctx.budget.examples, ctx.seed,
                             explicit_cases(assumptions) if self.explicit else ())
        result = self.result(lemma, ctx, found, scope=f"within {names}", **fields)
        result.evidence["scope"] = {**sampled_scope(seen, sampled), "cases": found.cases, "assumptions": names}
        return result

    def result(self, lemma: Lemma, ctx: CheckContext, found: Search, scope: str, kind: str | None = None,
               name: str | None = None, affects_verdict: bool = True) -> CheckResult:
        """Turn a :class:`Search` into a CheckResult (shared with assumption probes)."""

        kind, name = kind or self.kind, name or self.describe()
        evidence = {"cases": found.cases, "points": found.points, "vacuous_cases": found.vacuous, "scope": scope,
                    "examples_budget": ctx.budget.examples}
        tolerance = self.tolerance()
        if found.failure is not None:
            cx = save_counterexample(lemma, self, found.failure_case, found.failure, ctx, scope)
            how = "a shrunk case" if found.shrunk else "the explicit case (not shrunk)"
            return CheckResult(kind, name, Verdict.REFUTED,
                               f"{self.label} fails {scope}: margin {found.failure.margin:.3g} on {how} "
                               f"(P={found.failure_case.instance.P}, K={found.failure_case.instance.K})",
                               evidence={**evidence, "worst": found.failure.worst, "shrunk": found.shrunk},
                               tolerance=tolerance,
                               counterexample=cx, margin=found.failure.margin, seed=ctx.seed,
                               affects_verdict=affects_verdict)
        if found.reason is not None or found.smallest is None:
            reason = found.reason or f"all {found.cases} drawn cases were vacuous (nothing to evaluate)"
            return CheckResult(kind, name, Verdict.INCONCLUSIVE, f"{self.label}: could not decide: {reason}",
                               evidence={**evidence, "reason": reason}, tolerance=tolerance, seed=ctx.seed,
                               affects_verdict=affects_verdict)
        s = found.smallest
        return CheckResult(kind, name, Verdict.VERIFIED,
                           f"{self.label} held on {found.cases} cases ({found.points} points) {scope}; "
                           f"smallest margin {s.margin:.3g} (relative {s.relative:.3g})",
                           evidence={**evidence, "worst": s.worst, "smallest_case": found.smallest_case.to_dict()},
                           tolerance=tolerance, margin=s.margin, seed=ctx.seed, affects_verdict=affects_verdict)


class StructuralClaim(CaseClaim):
    kind = "structural"

    def __init__(self, label: str, assumes=(), draw=None):
        self.label = label
        self.assumes = tuple(assumes)
        self.draw = dict(draw or {})
