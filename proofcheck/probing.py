"""Assumption probing: what happens to a conclusion *outside* one assumption.

For each assumption with a ``violate`` map, Hypothesis draws cases that satisfy
the lemma's other assumptions and violate just that one, and evaluates the
claim's conclusion there.  A failure is shrunk to a minimal case (the strategies
draw P, then the clusters, then the areas, so fewer positions, clusters and
areas shrink first), saved as JSON so that :func:`replay` re-evaluates it.

A probe never changes the lemma's verdict (``affects_verdict=False``): REFUTED
means "outside <assumption> the conclusion fails: the assumption is needed";
VERIFIED means "the conclusion held on all n draws outside <assumption>".
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Sequence

from .assumptions import CaseClaim, Outcome, case_from_dict, explicit_cases, search_cases, violating
from .cases import Case
from .errors import UsageError
from .io import atomic_write_text
from .lemma import CheckContext, Claim, Lemma, load_lemma_file
from .verdict import CheckResult, Verdict, jsonable


def _claim_path(lemma: Lemma, claim: Claim) -> list:
    """Where ``claim`` sits in the lemma: [index] or [index, "claim"] for a probe's claim."""
    for n, c in enumerate(lemma.claims):
        if c is claim:
            return [n]
        if isinstance(c, AssumptionProbe) and c.claim is claim:
            return [n, "claim"]
    return []


def save_counterexample(lemma: Lemma, claim: CaseClaim, case: Case, outcome: Outcome, ctx: CheckContext,
                        scope: str) -> dict:
    """The replayable counterexample record; written under ``ctx.cache_dir /
    counterexamples`` when a cache folder is set."""
    record = {"lemma_id": lemma.id, "source": lemma.source, "claim": claim.label,
              "claim_path": _claim_path(lemma, claim), "scope": scope, "seed": ctx.seed,
              "case": case.to_dict(), "margin": outcome.margin, "worst": outcome.worst}
    if ctx.cache_dir is not None:
        digest = hashlib.sha1(f"{claim.label}|{scope}".encode()).hexdigest()[:10]
        path = Path(ctx.cache_dir) / "counterexamples" / f"{lemma.id}-{digest}-seed{ctx.seed}.json"
        record["file"] = str(path)
        record["replay"] = f"python -c \"from proofcheck.probing import replay; print(replay('{path}'))\""
        atomic_write_text(path, json.dumps(jsonable(record), indent=2, sort_keys=True))
    else:
        record["replay"] = "proofcheck.probing.replay(<this record>, claim) re-evaluates it"
    return jsonable(record)


def replay(record: str | Path | dict, claim: CaseClaim | None = None) -> Outcome:
    """Re-evaluate a saved counterexample (a file path or the record itself).
    Without ``claim`` the claim is taken from the lemma file the record names."""
    if not isinstance(record, dict):
        record = json.loads(Path(record).read_text())
    if claim is None:
        if not record.get("source") or not record.get("claim_path"):
            raise UsageError("this counterexample names no lemma file and claim; pass the claim to replay()")
        claim = load_lemma_file(record["source"]).claims[record["claim_path"][0]]
        if record["claim_path"][1:] == ["claim"]:
            claim = claim.claim
    return claim.evaluate_case(case_from_dict(record["case"]))


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
