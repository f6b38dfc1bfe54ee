"""Checker adequacy: does proofcheck refute mechanically planted wrong lemmas?

For every claim of a lemma whose statement is a SymPy expression, the mutants
of :mod:`proofcheck.engine.mutation` (sign flipped, a summand dropped, ``z -> z^2``, a
constant changed, target/non-target indices or scales swapped) and, for
relations, the reversed relation, are each run through the *same* path as a
real lemma (:func:`proofcheck.engine.session.run_lemma` on a copy of the lemma holding
only the mutated claim).  Each mutant ends in one of:

- ``refuted``: the checker rejected it (the goal);
- ``equivalent``: SymPy shows it equals the original statement, or a check
  *proves* the mutated statement (SymPy, or the exact decision within its
  scope: a weakened inequality can stay true) -- a certificate, never a
  failure to refute -- so it is not a wrong lemma and is not expected to be refuted;
- ``survived``: neither: a wrong lemma the checker let through.

The mutation score of a lemma is refuted / (mutants - equivalent).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from proofcheck.context import QUICK, Budget
from proofcheck.lang.lemma import Claim, Lemma
from proofcheck.engine.session import Session
from proofcheck.engine.mutation import equivalent, family, mutants
from proofcheck.verdict import Verdict

#: a small budget first (one refuting example is enough, and mutants are many);
#: a mutant that survives it is run again at the next budget before it counts
MUTATION_BUDGET = Budget("mutation", examples=3, trained_cases=1, shrink_trained=False, seeds=1)
ESCALATION = (MUTATION_BUDGET, QUICK)


@dataclass
class MutantOutcome:
    lemma_id: str
    claim: str
    label: str
    family: str
    outcome: str          # refuted | equivalent | survived
    verdict: str
    reason: str = ""
    #: the mutated statement's srepr: what known survivors are keyed by (a label names a family, not a mutant)
    mutant: str = ""


@dataclass
class Score:
    lemma_id: str
    outcomes: list[MutantOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(o.outcome == outcome for o in self.outcomes)

    @property
    def score(self) -> float | None:
        """refuted / non-equivalent mutants; None when there is none to refute."""
        live = len(self.outcomes) - self.count("equivalent")
        return self.count("refuted") / live if live else None

    def line(self) -> str:
        s = self.score
        return (f"{self.lemma_id}: {len(self.outcomes)} mutants, {self.count('refuted')} refuted, "
                f"{self.count('equivalent')} equivalent, {self.count('survived')} survived; "
                f"score {'n/a' if s is None else f'{100 * s:.0f}%'}")


def _difference(claim: Claim) -> sp.Expr:
    """The expression mutated: ``lhs - rhs`` of a relation, else the expression."""
    e = claim.expression
    return e.lhs - e.rhs if isinstance(e, sp.Rel) else e


def _reversed(rel: sp.Rel) -> sp.Rel:
    flip = {sp.GreaterThan: sp.LessThan, sp.LessThan: sp.GreaterThan,
            sp.StrictGreaterThan: sp.StrictLessThan, sp.StrictLessThan: sp.StrictGreaterThan}
    return flip[type(rel)](rel.lhs, rel.rhs, evaluate=False)


def mutable(lemma: Lemma) -> bool:
    """Whether some claim of the lemma has a SymPy expression to mutate."""
    return any(c.expression is not None for c in lemma.claims)


def claim_mutants(claim: Claim, one_per_family: bool = False) -> list[tuple[str, Claim, Callable[[], bool]]]:
    """(label, mutated claim, equivalent-by-SymPy) for one claim; empty when the
    claim has no SymPy expression.  ``one_per_family`` keeps the first mutant
    of each family (the CI-sized suite).  The third item is a function: SymPy's
    equivalence test is slow, and a sweep task runs one mutant of the list."""
    if claim.expression is None:
        return []
    rel = claim.expression if isinstance(claim.expression, sp.Rel) else None
    base = _difference(claim)
    restriction = getattr(claim, "restriction", None)
    out, seen = [], set()
    for label, m in mutants(base):
        fam = family(label)
        if one_per_family and fam in seen:
            continue
        seen.add(fam)
        new_expr = type(rel)(m, 0, evaluate=False) if rel is not None else m
        out.append((label, claim.mutated(new_expr), lambda m=m: _equivalent(base, m, restriction)))
    if rel is not None:
        out.append(("relation reversed", claim.mutated(_reversed(rel)), lambda: False))
    return out


def _equivalent(base: sp.Expr, mutant: sp.Expr, restriction) -> bool:
    try:
        return equivalent(base, mutant, restriction)
    except (TypeError, ValueError, RecursionError):  # SymPy could not decide: the check alone decides
        return False


def judge_mutant(lemma: Lemma, claim: Claim, label: str, mutant: Claim, same: bool, seed: int = 0,
                 budgets: tuple[Budget, ...] = ESCALATION, cache_dir=None) -> MutantOutcome:
    """Run one mutant of ``claim`` through the checker, escalating through
    ``budgets`` until it is refuted or proved: the unit of the mutation sweep
    (:mod:`proofcheck.engine.sweep`) and of :func:`mutate_lemma` alike."""
    planted = dataclasses.replace(lemma, claims=[mutant], expect=None, expect_reason="")
    for budget in budgets:
        result = Session(budget, seed, report_dir=cache_dir, plots=False).run_lemma(planted)
        v = result.verdict
        # equivalent only with a certificate: a PROVED check of the mutant (SymPy, or the exact decision
        # within its scope), never a failure to refute it
        cert = next((c for c in result.checks if c.verdict is Verdict.PROVED and c.affects_verdict), None)
        if v is Verdict.REFUTED or cert is not None or same:
            break
    if v is Verdict.REFUTED:
        outcome, reason = "refuted", ""
    elif same:
        outcome, reason = "equivalent", "SymPy: the mutant equals the original on every event shape"
    elif cert is not None:
        outcome, reason = "equivalent", f"certificate: {cert.name}: {cert.summary}"
    else:
        outcome, reason = "survived", f"checker said {v.value}"
    return MutantOutcome(lemma.id, claim.describe(), label, family(label) if label != "relation reversed"
                         else "reverse", outcome, v.value, reason,
                         sp.srepr(mutant.expression) if mutant.expression is not None else label)


def mutate_lemma(lemma: Lemma, seed: int = 0, one_per_family: bool = False,
                 budgets: tuple[Budget, ...] = ESCALATION, cache_dir=None) -> Score:
    """Run every mutant of every mutable claim of ``lemma`` through the checker."""
    score = Score(lemma.id)
    for claim in lemma.claims:
        for label, mutant, same in claim_mutants(claim, one_per_family):
            score.outcomes.append(judge_mutant(lemma, claim, label, mutant, same(), seed, budgets, cache_dir))
    return score
