"""The Hypothesis search every case-based check runs: draw cases, evaluate a claim's conclusion on
each, steer to the smallest margin, shrink a violation to a minimal case."""
from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Sequence
from hypothesis import HealthCheck, Phase, example, given, seed, settings, target
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from hypothesis.reporting import with_reporter
from proofcheck.lang.cases import Case


@dataclass
class Outcome:
    """A claim's conclusion evaluated on one case.  ``margin`` > 0 means it held
    with room to spare (in the claim's own units, tolerance already subtracted
    where the claim says so); ``relative`` is the margin scaled to be comparable
    across cases (Hypothesis targets it); ``points`` counts what was evaluated
    (events, entries, steps); ``worst`` names the worst entry."""

    holds: bool
    margin: float
    relative: float
    points: int
    worst: dict = field(default_factory=dict)


@dataclass
class Search:
    """What a search found: number of cases, points, the smallest margin with its
    case, and the (shrunk) failing case if any; ``reason`` when it could not run."""

    cases: int = 0
    points: int = 0
    vacuous: int = 0
    smallest: Outcome | None = None
    smallest_case: Case | None = None
    failure: Outcome | None = None
    failure_case: Case | None = None
    reason: str | None = None
    #: False when the failing case is an explicit one that no drawn case reproduced
    shrunk: bool = True


class _Violated(AssertionError):
    pass


@contextmanager
def _no_local_constants():
    """Hypothesis (>= 6.131) mixes into its draws literal constants read from the
    source of every *local* module in ``sys.modules``, so the cases drawn for one
    seed depended on what the process had imported before (a worker of ``--jobs``
    loads one lemma file, a single process all of them; a trajectory check imports
    the plotting module).  Within a search that pool is held empty, so the draws
    depend only on the seed and the strategy.  Private API, hence the guard: a
    Hypothesis without the pool needs nothing here."""
    from hypothesis.internal.conjecture import providers
    if not hasattr(providers, "_get_local_constants"):
        yield
        return
    original, empty = providers._get_local_constants, providers.Constants()
    providers.CONSTANTS_CACHE.cache.clear()  # the per-constraint pools cached from the full pool
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def _key(case: Case) -> str:
    return json.dumps(case.to_dict(), sort_keys=True)


def search_cases(strategy: st.SearchStrategy, evaluate: Callable[[Case], Outcome], examples: int,
                 seed_value: int, explicit: Sequence[Case] = (), shrink_budget: int = 40) -> Search:
    """Run Hypothesis over ``strategy`` after the ``explicit`` cases: evaluate each
    case, ``target`` the negative relative margin (LIBRARY-FACTS: target
    maximises, so this hunts the tightest cases), and on a violation let
    Hypothesis shrink to a minimal case, spending at most ``shrink_budget``
    evaluations on it (a failing explicit case is reported as is: Hypothesis does
    not shrink explicit examples).  Deterministic for a given
    ``seed_value``."""
    found = Search()
    failing, shrink_left = set(), [shrink_budget]

    def judge(case) -> bool:
        """Whether ``case`` violates the claim (recording what it saw)."""
        key = _key(case)
        if found.failure is not None:
            # shrinking: give up improving after `shrink_budget` evaluations, but keep
            # failing on every case seen failing so Hypothesis's replays agree
            if key in failing:
                return True
            if shrink_left[0] <= 0:
                return False
            shrink_left[0] -= 1
        out = evaluate(case)
        found.cases += 1
        found.points += out.points
        if out.points == 0:
            found.vacuous += 1
            return False
        if found.smallest is None or out.relative < found.smallest.relative:
            found.smallest, found.smallest_case = out, case
        if math.isfinite(out.relative):
            target(-out.relative, label="negative relative margin")
        if not out.holds or math.isnan(out.margin):  # a NaN satisfies no claim: never a pass
            if found.failure is None or len(key) <= len(_key(found.failure_case)):
                found.failure, found.failure_case = out, case
            failing.add(key)
        return not out.holds

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False, print_blob=False,
              phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink), suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(strategy)
    def run(case):
        if judge(case):  # one raise site: Hypothesis tells failures apart by where they are raised
            raise _Violated()

    for case in explicit:
        run = example(case)(run)
    try:
        with with_reporter(lambda *_: None), _no_local_constants():
            run()
    except _Violated:
        if any(found.failure_case is c for c in explicit):
            # explicit examples are not shrunk: look for a small drawn counterexample too
            drawn = search_cases(strategy, evaluate, 2 * examples, seed_value, shrink_budget=shrink_budget)
            if drawn.failure is not None:
                drawn.cases += found.cases
                drawn.points += found.points
                return drawn
            found.shrunk = False
    except Unsatisfiable as exc:
        found.reason = f"Hypothesis could not draw cases satisfying the assumptions ({exc})"
    except FailedHealthCheck as exc:
        found.reason = f"Hypothesis health check failed: {str(exc).splitlines()[0]}"
    return found
