"""Named lemma assumptions over :class:`~proofcheck.lang.cases.Case` s, and the
Hypothesis search that every case-based check kind runs.

Each :class:`CaseAssumption` is a :class:`proofcheck.lang.lemma.Assumption` that also
says how to *draw* cases satisfying it (keyword arguments for
:func:`proofcheck.lang.cases.instances`, an instance strategy of its own, or a map on
the drawn point), so that :func:`satisfying` can draw cases that satisfy a whole
list of assumptions at once.  ``violate`` maps a satisfying case to one that
violates just that assumption; :mod:`proofcheck.checks.probe` uses it.

The assumptions are those SPEC's [D] lemmas rely on: positivity of the scales
(DEF-DATA item 4, SPEC §12 item 4), orthonormal embeddings (DEF-DATA item 5),
an interior masking probability (DEF-MASK), Q in the span of LEM-G2, the zero
initialisation (DEF-GD), equal area sizes (DEF-DATA item 7, LEM-G12), small
local masses (LEM-G7) and a symmetric instance (LEM-G9).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import sympy as sp
import torch
from hypothesis import strategies as st

from proofcheck.lang.cases import Case, instances, points, z_laws
from proofcheck.setting.coords import events, q_from_coords
from proofcheck.errors import UsageError
from proofcheck.setting.instance import DTYPE, Cluster, Instance, ZLaw, fixture_6
from proofcheck.setting.instance import balanced as balanced_preset
from proofcheck.lang.lemma import Assumption
from proofcheck.setting.sampling import exact_batch
from proofcheck.setting.symmetry import automorphisms

#: keyword arguments of :func:`proofcheck.lang.cases.instances` every search starts from:
#: up to six areas per cluster (statements true only for N <= 3 must meet bigger clusters), yet small enough
#: for exact enumeration: at most 2**7 masks x 8 z tuples x 2 clusters = 2048 events
DEFAULT_INSTANCE_KWARGS = dict(min_P=2, max_P=7, max_clusters=2, max_areas=6, z_lower=0.25, z_upper=2.0,
                               gamma=(0.1, 0.9), max_support=2, max_z_tuples=8)


# -- cases off the LEM-G2 span ---------------------------------------------------------

@dataclass
class OffSpanCase(Case):
    """A case whose Q has a component ``Q_off`` outside the span of LEM-G2
    (only the full-model checks can see it; coordinates ignore it)."""

    Q_off: torch.Tensor | None = None

    def to_dict(self) -> dict:
        return {**super().to_dict(), "Q_off": None if self.Q_off is None else self.Q_off.tolist()}


def case_from_dict(d: dict) -> Case:
    """Inverse of ``Case.to_dict`` / ``OffSpanCase.to_dict`` (for replaying counterexamples)."""
    case = Case.from_dict(d)
    if d.get("Q_off") is not None:
        return OffSpanCase(case.instance, case.Phi, case.Ups, torch.tensor(d["Q_off"], dtype=DTYPE))
    return case


def case_q(case: Case) -> torch.Tensor:
    """The d x d matrix Q of a case: its span part (SPEC LEM-G2) plus any off-span part."""
    Q = q_from_coords(case.Phi, case.Ups, case.instance)
    off = getattr(case, "Q_off", None)
    return Q if off is None else Q + off


def _case_generator(case: Case, salt: int) -> torch.Generator:
    """A generator seeded from the case itself, so that violations are deterministic."""
    return torch.Generator().manual_seed((case.instance.rotation_seed * 7919 + salt) % (2**31))


# -- the assumption class and the joint strategy ---------------------------------------------

@dataclass(frozen=True)
class CaseAssumption(Assumption):
    """An :class:`Assumption` over cases that also says how to draw them.

    ``instance_kwargs`` are merged into :func:`proofcheck.lang.cases.instances`;
    ``instance_strategy`` (kwargs -> strategy of instances) replaces it;
    ``point_map`` transforms each drawn case.  ``seen_in_coords`` is False for
    assumptions that checks in correlation coordinates cannot see (the
    embeddings, an off-span part of Q)."""

    instance_kwargs: dict = field(default_factory=dict)
    instance_strategy: Callable[..., Any] | None = None
    point_map: Callable[[Case], Case] | None = None
    seen_in_coords: bool = True


def _drawn_cases(assumptions: Sequence[Assumption], overrides: dict) -> st.SearchStrategy:
    kwargs = dict(DEFAULT_INSTANCE_KWARGS)
    factory = None
    maps = []
    for a in assumptions:
        if isinstance(a, CaseAssumption):
            kwargs.update(a.instance_kwargs)
            factory = factory or a.instance_strategy
            if a.point_map is not None:
                maps.append(a.point_map)
    kwargs.update(overrides)
    scale = kwargs.pop("scale", 3.0)
    inst_strategy = (factory or instances)(**kwargs)

    @st.composite
    def draw(draw_):
        inst = draw_(inst_strategy)
        Phi, Ups = draw_(points(inst, scale))
        case = Case(inst, Phi, Ups)
        for m in maps:
            case = m(case)
        return case

    return draw()


def _explicit_points(inst, seed: int) -> list[Case]:
    """Three points of the domain on one instance: a seeded random Q (interior), Q = 0
    (where training starts: uniform attention over the visible keys) and attention
    concentrated on each cluster's first area (FP correlation 6 on it: masses near a vertex of
    the simplex, where sign and bound claims are tightest)."""
    g = torch.Generator().manual_seed(seed)
    random = Case(inst, 1.5 * (2 * torch.rand(inst.P, inst.F, dtype=DTYPE, generator=g) - 1),
                  1.5 * (2 * torch.rand(inst.P, inst.P, dtype=DTYPE, generator=g) - 1))
    zero = Case(inst, torch.zeros(inst.P, inst.F, dtype=DTYPE), torch.zeros(inst.P, inst.P, dtype=DTYPE))
    peaked = torch.zeros(inst.P, inst.F, dtype=DTYPE)
    peaked[:, [inst.feature_index(k, 0) for k in range(inst.K)]] = 6.0
    return [random, zero, Case(inst, peaked, zero.Ups)]


def explicit_cases(assumptions: Sequence[Assumption], violate: Assumption | None = None) -> list[Case]:
    """The SPEC §11 fixture and a balanced instance (P=6, K=2, N=3), each at the points of
    :func:`_explicit_points`, mapped by the assumptions' point maps, kept where they hold
    (and, with ``violate``, turned into cases violating just that one).  Every search tries
    them first: small random draws rarely have three areas in two clusters, and rarely
    land on the start of training or near a vertex of the simplex."""
    out = []
    for n, inst in enumerate((fixture_6(), balanced_preset(P=6, K=2, N=3, z=ZLaw(values=(0.5, 1.5))))):
        for case in _explicit_points(inst, n):
            for a in assumptions:
                if isinstance(a, CaseAssumption) and a.point_map is not None:
                    case = a.point_map(case)
            if not all(a.holds(case) for a in assumptions):
                continue
            if violate is not None:
                case = violate.violate(case)
                if violate.holds(case):
                    continue
            if not any(_same(case, c) for c in out):  # a point map (e.g. zero_init) can merge points
                out.append(case)
    return out


def _same(x: Case, y: Case) -> bool:
    return type(x) is type(y) and x.to_dict() == y.to_dict()


def satisfying(assumptions: Sequence[Assumption], **overrides) -> st.SearchStrategy:
    """Cases that satisfy every assumption in the list (the lemma's assumptions
    plus a claim's own).  ``overrides`` go to the instance strategy (``scale``
    to :func:`proofcheck.lang.cases.points`)."""
    assumptions = list(assumptions)
    return _drawn_cases(assumptions, overrides).filter(lambda c: all(a.holds(c) for a in assumptions))


def violating(assumption: Assumption, others: Sequence[Assumption], **overrides) -> st.SearchStrategy:
    """Cases that satisfy ``others`` and violate just ``assumption`` (via its ``violate``)."""
    if assumption.violate is None:
        raise UsageError(f"assumption {assumption.name!r} has no violate(); it cannot be probed")
    others = [a for a in others if a.name != assumption.name]
    return satisfying(others, **overrides).map(assumption.violate).filter(lambda c: not assumption.holds(c))


def _make(name, description, holds, violate=None, formula=None, **draw) -> CaseAssumption:
    assumption = CaseAssumption(name, description, holds, strategy=lambda: None, violate=violate, formula=formula,
                                **draw)
    # strategy() draws cases satisfying this assumption alone (the frozen dataclass needs object.__setattr__)
    object.__setattr__(assumption, "strategy", lambda: satisfying([assumption]))
    return assumption


# -- z_positive (DEF-DATA item 4, SPEC §12 item 4) ---------------------------------------

def _negate_area_one(case: Case) -> Case:
    """Flip the sign of the support of area 1 in every cluster: z takes negative values."""
    clusters = tuple(replace(c, z=(ZLaw(values=tuple(-v for v in c.z[0].values), probs=c.z[0].probs),) + c.z[1:])
                     for c in case.instance.clusters)
    return replace(case, instance=case.instance.with_options(clusters=clusters))


z_positive = _make("z_positive", "every area scale is bounded below: z_j(X) >= L > 0 (DEF-DATA item 4)",
                   holds=lambda c: c.instance.z_lower > 0, violate=_negate_area_one,
                   formula=sp.And(sp.GreaterThan(sp.Symbol("z_j"), sp.Symbol("L")),
                                  sp.StrictGreaterThan(sp.Symbol("L"), 0)),
                   instance_kwargs={"z_lower": 0.25})


# -- orthonormal (DEF-DATA item 5) ----------------------------------------------------------

orthonormal = _make("orthonormal", "the e_p and v_{k,j} are orthonormal (DEF-DATA item 5): skew = 0",
                    holds=lambda c: c.instance.skew == 0 and c.instance.orthonormal,
                    violate=lambda c: replace(c, instance=c.instance.with_options(skew=0.5)),
                    seen_in_coords=False)


# -- gamma_interior (DEF-MASK) --------------------------------------------------------------

gamma_interior = _make("gamma_interior", "the masking probability is interior: 0 < gamma < 1 (DEF-MASK)",
                       holds=lambda c: 0.0 < c.instance.gamma < 1.0,
                       formula=sp.And(sp.StrictLessThan(0, sp.Symbol("gamma")), sp.StrictLessThan(sp.Symbol("gamma"), 1)),
                       violate=lambda c: replace(c, instance=c.instance.with_options(
                           gamma=1.0 if c.instance.gamma >= 0.5 else 0.0)))


# -- span_point (LEM-G2) ------------------------------------------------------------------------

def _off_span(case: Case) -> Case:
    """Add a random component orthogonal to the LEM-G2 span (rows outside {e_p} and
    columns outside {e_q, v_f})."""
    inst = case.instance
    Q = torch.randn(inst.d, inst.d, dtype=DTYPE, generator=_case_generator(case, 11))
    E, B = inst.E, inst.basis_matrix
    # with non-orthonormal embeddings there is no orthogonal "off-span" part to speak of
    rows = torch.eye(inst.d, dtype=DTYPE) - E @ torch.linalg.pinv(E)
    cols = torch.eye(inst.d, dtype=DTYPE) - B @ torch.linalg.pinv(B)
    Q_off = rows @ Q + (torch.eye(inst.d, dtype=DTYPE) - rows) @ Q @ cols
    return OffSpanCase(inst, case.Phi, case.Ups, Q_off)


def _in_span(case: Case) -> bool:
    off = getattr(case, "Q_off", None)
    return off is None or float(torch.linalg.norm(off)) == 0.0


span_point = _make("span_point", "Q lies in span{e_p v_f^T} + span{e_p e_q^T} (LEM-G2): the case is a point (Phi, Ups)",
                   holds=_in_span, violate=_off_span, seen_in_coords=False)


# -- zero_init (DEF-GD, LEM-G10) ----------------------------------------------------------------

def _zero_point(case: Case) -> Case:
    return Case(case.instance, torch.zeros_like(case.Phi), torch.zeros_like(case.Ups))


def _random_point(case: Case) -> Case:
    g = _case_generator(case, 13)
    return Case(case.instance, 0.5 * torch.randn(*case.Phi.shape, dtype=DTYPE, generator=g),
                0.5 * torch.randn(*case.Ups.shape, dtype=DTYPE, generator=g))


zero_init = _make("zero_init", "the point is Q = 0 (DEF-GD initialisation Q(0) = 0)",
                  holds=lambda c: _in_span(c) and not bool(c.Phi.any()) and not bool(c.Ups.any()),
                  formula=sp.Eq(sp.Symbol("Q"), 0),
                  violate=_random_point, point_map=_zero_point)


# -- equal_areas / balanced (DEF-DATA item 7, LEM-G12) ----------------------------------------------

def _areas_equal(inst: Instance) -> bool:
    return all(len({len(a) for a in c.areas}) == 1 for c in inst.clusters)


@st.composite
def balanced_instances(draw, same_N: bool = False, shared_z: bool = False, max_P: int = 6, **kwargs) -> Instance:
    """Instances whose clusters cut [P] into equal areas of size C >= 2
    (``same_N``: every cluster has the same N; ``shared_z``: one z law for all
    areas).  Small P first so that Hypothesis shrinks towards few positions."""
    P = draw(st.sampled_from([p for p in (2, 4, 6) if p <= max_P]))
    K = draw(st.integers(1, kwargs.get("max_clusters", 2)))
    divisors = [n for n in range(1, P + 1) if P % n == 0 and P // n >= 2]
    shared_N = draw(st.sampled_from(divisors))
    z_lo, z_hi = kwargs.get("z_lower", 0.25), kwargs.get("z_upper", 2.0)
    law = draw(z_laws(z_lo, z_hi, kwargs.get("max_support", 2)))
    raw = draw(st.lists(st.floats(0.1, 1.0), min_size=K, max_size=K))
    weights = [r / sum(raw) for r in raw]
    weights[-1] = 1.0 - sum(weights[:-1])
    clusters = []
    for k in range(K):
        n = shared_N if same_N else draw(st.sampled_from(divisors))
        order = draw(st.permutations(range(P))) if k else list(range(P))
        C = P // n
        areas = tuple(tuple(sorted(order[i * C:(i + 1) * C])) for i in range(n))
        laws = (law,) * n if shared_z else tuple(draw(z_laws(z_lo, z_hi, kwargs.get("max_support", 2)))
                                                  for _ in range(n))
        clusters.append(Cluster(weights[k], areas, laws))
    return Instance(P=P, clusters=tuple(clusters), gamma=draw(st.floats(*kwargs.get("gamma", (0.1, 0.9)))),
                    key_set=draw(st.sampled_from(("B", "A"))), rotation_seed=draw(st.integers(0, 2**16)),
                    name="drawn-balanced")


def _unequal_areas(case: Case) -> Case:
    """Make the areas of cluster 1 unequal: move one position from area 1 to area 2
    (merge the two when area 1 is a single position; split a lone area in two)."""
    inst = case.instance
    c = inst.clusters[0]
    first = c.areas[0]
    Phi = case.Phi  # cluster 1's features are the first columns; keep Phi's columns in step
    if len(c.areas) >= 2 and len(first) >= 2:
        areas, laws = (first[:-1], tuple(sorted(c.areas[1] + first[-1:]))) + c.areas[2:], c.z
    elif len(c.areas) >= 2:
        areas, laws = (tuple(sorted(first + c.areas[1])),) + c.areas[2:], (c.z[0],) + c.z[2:]
        Phi = torch.cat([Phi[:, :1], Phi[:, 2:]], 1)
    else:
        areas, laws = (first[:-1], first[-1:]), (c.z[0], c.z[0])
        Phi = torch.cat([Phi[:, :1], Phi], 1)
    clusters = (Cluster(c.weight, areas, laws),) + inst.clusters[1:]
    return Case(inst.with_options(clusters=clusters, d=None), Phi, case.Ups)


equal_areas = _make("equal_areas", "in every cluster all areas have the same size C >= 2 (DEF-DATA item 7)",
                    holds=lambda c: _areas_equal(c.instance), violate=_unequal_areas,
                    formula=sp.And(sp.Eq(sp.Symbol("C_(k,j)"), sp.Symbol("C")), sp.GreaterThan(sp.Symbol("C"), 2)),
                    instance_strategy=balanced_instances)


def _is_balanced(inst: Instance) -> bool:
    laws = {z for c in inst.clusters for z in c.z}
    return _areas_equal(inst) and len(set(inst.N)) == 1 and len(laws) == 1


def _distinct_law(case: Case) -> Case:
    """Give area 1 of cluster 1 a z law scaled by 2: no longer identically distributed."""
    inst = case.instance
    c = inst.clusters[0]
    law = ZLaw(values=tuple(2.0 * v for v in c.z[0].values), probs=c.z[0].probs)
    clusters = (replace(c, z=(law,) + c.z[1:]),) + inst.clusters[1:]
    return replace(case, instance=inst.with_options(clusters=clusters))


balanced = _make("balanced", "balanced case (LEM-G12): every cluster has N equal areas and all z are identically "
                 "distributed", holds=lambda c: _is_balanced(c.instance), violate=_distinct_law,
                 instance_strategy=lambda **kw: balanced_instances(same_N=True, shared_z=True, **kw))


# -- small_local_masses (LEM-G7) ---------------------------------------------------------------

def local_mass_ratio(case: Case) -> float:
    """max over masked local queries (a != 1) whose global area has a visible patch of
    max_{i>=2} A_{p,i} / A_{p,1}: how small the local masses are (SPEC LEM-G7)."""
    inst = case.instance
    if inst.N_max < 2:
        return math.inf
    batch = exact_batch(inst)
    ev = events(case.Phi, case.Ups, inst, batch)
    n = torch.tensor(inst.N)[batch.cluster]
    local = ev.masked & (ev.a != 0) & (ev.A[..., 0] > 0)
    valid = torch.arange(inst.N_max).view(1, 1, -1) < n.view(-1, 1, 1)
    loc_max = torch.where(valid[..., 1:].expand_as(ev.A[..., 1:]), ev.A[..., 1:], torch.zeros(())).amax(-1)
    ratio = loc_max / ev.A[..., 0].clamp(min=1e-300)
    return float(ratio[local].max()) if bool(local.any()) else math.inf


def _global_shift(case: Case, shift: float) -> Case:
    """Add ``shift / L`` to every global FP correlation Phi_{p -> v_{k,1}}."""
    inst = case.instance
    Phi = case.Phi.clone()
    Phi[:, list(inst.feature_offset)] += shift / max(abs(inst.z_lower), 1e-3)
    return Case(inst, Phi, case.Ups)


def _small_local(case: Case) -> bool:
    inst = case.instance
    rho = (inst.z_lower / inst.z_upper) ** 2 if inst.z_lower > 0 else 0.0
    return local_mass_ratio(case) <= rho


small_local_masses = _make(
    "small_local_masses", "on every masked local query (a != 1) whose global area is visible, "
    "max_{i>=2} A_{p,i} <= (L/U)^2 A_{p,1} (SPEC LEM-G7: the local masses are small)",
    holds=_small_local, violate=lambda c: _global_shift(c, -12.0), point_map=lambda c: _global_shift(c, 12.0),
    formula=sp.LessThan(sp.Symbol("max_(i>=2) A_(p,i)"), (sp.Symbol("L") / sp.Symbol("U"))**2 * sp.Symbol("A_(p,1)")),
    instance_kwargs={"min_P": 3, "scale": 0.5})


# -- symmetric_instance (LEM-G9) ------------------------------------------------------------------


@st.composite
def twin_instances(draw, **kwargs) -> Instance:
    """Instances with a twin: a position P that lies in the area of position 0 in
    every cluster, so that swapping 0 and P is an automorphism (LEM-G9)."""
    kw = dict(kwargs)
    kw["max_P"] = min(kw.get("max_P", 5), 4)
    kw["min_P"] = min(kw.get("min_P", 2), kw["max_P"])
    base = draw(instances(**kw))
    P = base.P
    clusters = []
    for c in base.clusters:
        areas = tuple(area + (P,) if 0 in area else area for area in c.areas)
        clusters.append(Cluster(c.weight, areas, c.z))
    return base.with_options(P=P + 1, clusters=tuple(clusters), d=None, name="drawn-twin")


symmetric_instance = _make(
    "symmetric_instance", "the instance has a non-trivial automorphism (SPEC LEM-G9: a permutation of positions "
    "and features mapping partitions and z laws to themselves)",
    holds=lambda c: c.instance.P <= 7 and bool(automorphisms(c.instance, limit=1)), instance_strategy=twin_instances)


#: every assumption of this module, by name (lemma files pick from here)
LIBRARY = {a.name: a for a in (z_positive, orthonormal, gamma_interior, span_point, zero_init, equal_areas, balanced,
                               small_local_masses, symmetric_instance)}


def by_name(*names: str) -> list[CaseAssumption]:
    """The named assumptions of :data:`LIBRARY`."""
    unknown = [n for n in names if n not in LIBRARY]
    if unknown:
        raise UsageError(f"unknown assumption(s) {unknown}; known: {sorted(LIBRARY)}")
    return [LIBRARY[n] for n in names]
