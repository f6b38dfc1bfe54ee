"""Direct sampling of the event symbols of a pointwise claim (SPEC §7-§8): the
search leg beyond the decision leg's N.

Instead of drawing model instances and reading their events' masses (which
rarely reach the vertices and faces of the simplex), Hypothesis draws the
symbols themselves on the domain of an event: N in 1..8, the key set, the
target area a, the scales z_1..z_N (in ``[1/8, 4]`` when the lemma assumes
z > 0, in ``[-4, 4]`` otherwise, with the special values 0, +-1 and the ends
drawn often) and the masses (A_0, A_1..A_N) on the simplex (A_0 = 0 in key set
A) of one of these kinds:

* ``vertex``: all mass on one group;
* ``face``: a Dirichlet(1) point on a random non-empty subset of the groups;
* ``interior``: a Dirichlet(1) point with every group > 0;
* ``mixture``: a vertex and an interior point mixed with a drawn weight;
* ``boundary``: for a claim with a condition, the point where the segment
  between two drawn points crosses the condition's boundary, on its true side
  (bisection, 24 steps), where a sufficient condition is tightest.

Every j (and every index the claim sums over) is evaluated at each point.
``hypothesis.target`` gets the smallest relative margin among entries where
the two sides are not both exactly 0 (a 0 = 0 entry carries no signal).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from hypothesis import HealthCheck, Phase, given, seed, settings, target
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck
from hypothesis.reporting import with_reporter

from proofcheck.engine.evaluate import EventView, entry_domain, evaluate, uses_j
from proofcheck.engine.search import Outcome, Search, _no_local_constants
from proofcheck.setting.instance import DTYPE

#: the largest N drawn
N_MAX = 8
KINDS = ("vertex", "face", "interior", "mixture", "boundary")
Z_POSITIVE_RANGE = (0.125, 4.0)
Z_FREE_RANGE = (-4.0, 4.0)
#: bisection steps to the condition's boundary: the crossing is located to 2^-24 of the
#: segment, well inside the margins the claims' tolerances resolve
BISECTION_STEPS = 24


@dataclass
class DomainPoint:
    """A point of the domain of an event: N, key set, target area a (1-based),
    z_1..z_N, A_1..A_N, A_0, and how it was drawn (``partner``: the other end of
    a ``boundary`` segment)."""

    n: int
    key_set: str
    a: int
    z: list
    A: list
    A0: float
    kind: str
    partner: "DomainPoint | None" = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"n": self.n, "key_set": self.key_set, "a": self.a, "z": list(self.z), "A": list(self.A),
                "A0": self.A0, "kind": self.kind,
                "partner": None if self.partner is None else self.partner.to_dict()}

    def toward(self, other: "DomainPoint", t: float) -> "DomainPoint":
        """(1 - t) * self + t * other (same N, key set and a)."""
        mix = (lambda u, v: [(1 - t) * x + t * y for x, y in zip(u, v)])
        return DomainPoint(self.n, self.key_set, self.a, mix(self.z, other.z), mix(self.A, other.A),
                           (1 - t) * self.A0 + t * other.A0, "boundary")


def _dirichlet(raw: list[float], support: list[bool]) -> list[float]:
    """Dirichlet(1) on the support from uniforms in (0, 1): -log u is Exp(1), and > 0."""
    w = [-math.log(u) if s else 0.0 for u, s in zip(raw, support)]
    total = sum(w)
    return [x / total for x in w]


@st.composite
def _point(draw, n: int, key_set: str, a: int, z_positive: bool, kind: str) -> DomainPoint:
    lo, hi = Z_POSITIVE_RANGE if z_positive else Z_FREE_RANGE
    special = [lo, 1.0, hi] + ([] if z_positive else [0.0, -1.0])
    z = draw(st.lists(st.one_of(st.sampled_from(special), st.floats(lo, hi)), min_size=n, max_size=n))
    groups = n + (key_set == "B")
    raw = draw(st.lists(st.floats(1e-6, 0.999), min_size=groups, max_size=groups))
    if kind == "vertex":
        k = draw(st.integers(0, groups - 1))
        w = [float(g == k) for g in range(groups)]
    elif kind == "face":
        support = draw(st.lists(st.booleans(), min_size=groups, max_size=groups).filter(any))
        w = _dirichlet(raw, support)
    else:
        w = _dirichlet(raw, [True] * groups)
        if kind == "mixture":
            k, t = draw(st.integers(0, groups - 1)), draw(st.floats(0.0, 1.0))
            w = [(1 - t) * x + t * float(g == k) for g, x in enumerate(w)]
    A0, A = (w[0], w[1:]) if key_set == "B" else (0.0, w)
    return DomainPoint(n, key_set, a, z, A, A0, kind)


@st.composite
def domain_points(draw, z_positive: bool, conditional: bool, n_max: int = N_MAX) -> DomainPoint:
    """Points of the domain of an event (see the module docstring)."""
    n = draw(st.integers(1, n_max))
    key_set = draw(st.sampled_from(("A", "B")))
    a = draw(st.integers(1, n))
    kind = draw(st.sampled_from(KINDS if conditional else KINDS[:-1]))
    base = "interior" if kind == "boundary" else kind
    p = draw(_point(n, key_set, a, z_positive, base))
    if kind == "boundary":
        other = draw(_point(n, key_set, a, z_positive, draw(st.sampled_from(KINDS[:-1]))))
        p = DomainPoint(p.n, p.key_set, p.a, p.z, p.A, p.A0, "boundary", other)
    return p


def stack(points: list[DomainPoint]) -> EventView:
    """The points as the rows of one :class:`EventView` (z padded by 1, A by 0 beyond
    each point's N, as for events; no keys: a claim about keys is not sampled here)."""
    width = max(p.n for p in points)
    E = len(points)
    zz, AA = torch.ones(E, width, dtype=DTYPE), torch.zeros(E, width, dtype=DTYPE)
    for r, p in enumerate(points):
        zz[r, :p.n] = torch.tensor(p.z, dtype=DTYPE)
        AA[r, :p.n] = torch.tensor(p.A, dtype=DTYPE)
    zero = torch.zeros(E, dtype=torch.long)
    return EventView(z=zz, A=AA, A0=torch.tensor([p.A0 for p in points], dtype=DTYPE),
                     a=torch.tensor([p.a - 1 for p in points]), n=torch.tensor([p.n for p in points]),
                     weight=torch.ones(E, dtype=DTYPE), query=zero, cluster=zero)


def condition_holds(condition, points: list[DomainPoint]) -> list[bool]:
    """Per point, whether the condition holds at some entry j (a condition is per entry)."""
    view = stack(points)
    J = view.N_max if uses_j(condition) else 1
    val, dom = evaluate(condition, view, J, 1)
    ok = (val > 0) & dom & entry_domain(view, J, 1)
    return ok.flatten(1).any(1).tolist()


def resolve(condition, points: list[DomainPoint]) -> list[DomainPoint]:
    """Each ``boundary`` point replaced by the crossing of its segment p -> partner
    with the condition's boundary, on the true side (bisection, all points at
    once); a point whose two ends agree on the condition stays as drawn."""
    todo = [r for r, p in enumerate(points) if p.kind == "boundary" and p.partner is not None]
    if condition is None or not todo:
        return list(points)
    out = list(points)
    ends = condition_holds(condition, [points[r] for r in todo] + [points[r].partner for r in todo])
    segments = []
    for k, r in enumerate(todo):
        here, there = ends[k], ends[len(todo) + k]
        if here != there:
            segments.append((r, points[r], points[r].partner) if here else (r, points[r].partner, points[r]))
    lo, hi = [0.0] * len(segments), [1.0] * len(segments)  # inside.toward(outside, lo) satisfies it
    for _ in range(BISECTION_STEPS if segments else 0):
        mid = [(x + y) / 2 for x, y in zip(lo, hi)]
        got = condition_holds(condition, [ins.toward(outs, m) for (_, ins, outs), m in zip(segments, mid)])
        lo = [m if g else x for m, g, x in zip(mid, got, lo)]
        hi = [y if g else m for m, g, y in zip(mid, got, hi)]
    for (r, ins, outs), t in zip(segments, lo):
        out[r] = ins.toward(outs, t)
    return out


@dataclass
class PointBatch:
    """The points one Hypothesis example evaluates at once (one evaluation of the claim's
    expression per batch: the SymPy-to-torch walk costs far more than a row)."""

    points: list

    def to_dict(self) -> dict:
        return {"points": [p.to_dict() for p in self.points]}


def batches(z_positive: bool, conditional: bool, size: int = 32) -> st.SearchStrategy:
    return st.lists(domain_points(z_positive, conditional), min_size=size, max_size=size).map(PointBatch)


class _Failed(AssertionError):
    pass


def sample_search(strategy: st.SearchStrategy, judge: Callable[[PointBatch], Outcome], examples: int,
                  seed_value: int) -> Search:
    """Hypothesis over batches of domain points, targeting the smallest relative
    margin, without shrinking: a batch costs a few evaluations, a shrink pass
    thousands, and the decision leg already gives exact minimal counterexamples.
    The failing batch is returned as drawn.  Deterministic for a given seed."""
    found = Search()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False, print_blob=False,
              phases=(Phase.generate, Phase.target), suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(strategy)
    def run(batch):
        out = judge(batch)
        found.cases += 1
        found.points += out.points
        found.vacuous += out.points == 0
        if out.points and (found.smallest is None or out.relative < found.smallest.relative):
            found.smallest, found.smallest_case = out, batch
        if math.isfinite(out.relative):
            target(-out.relative, label="negative relative margin")
        if not out.holds or math.isnan(out.margin):
            found.failure, found.failure_case = out, batch
            raise _Failed()

    try:
        with with_reporter(lambda *_: None), _no_local_constants():
            run()
    except _Failed:
        found.shrunk = False
    except FailedHealthCheck as exc:
        found.reason = f"Hypothesis health check failed: {str(exc).splitlines()[0]}"
    return found
