"""The symbolic leg of the identity checks: gradients derived by ``sympy.diff``
on symbolic events, and closed forms proved equal to them (SPEC §8).

For one event -- an image of cluster k with mask M and a masked query p -- the
loss depends on Q only through row p (SPEC LEM-G3), and by SPEC DEF-CORR only
through the row's correlations: the FP correlations ``phi_j`` of cluster k's
features and the PP correlations ``ups_q`` of the keys q in S.  The per-event,
per-row loss is built from the model itself (SPEC DEF-MODEL, DEF-LOSS-MAE), in
the coordinates of an orthonormal, basis-aligned instance:

    s_q = z_{b(q)} phi_{b(q)} 1{q in U} + ups_q,    attn_q = exp(s_q) / sum_{r in S} exp(s_r),
    F_p = sum_{q in S} attn_q x~_q,                  l = 1/2 ||x_p - F_p||^2,

with *free symbols* z_1..z_N, so a proof holds for every value of the scales
(z > 0 is not used), not only for the instance's support.  The exponentials are
positive symbols ``P_j = exp(z_j phi_j)``, ``U_q = exp(ups_q)``, which makes
every expression rational; ``-dl/d(coordinate)`` is derived by ``sympy.diff``
with the chain rule.  The lemma's closed form (a per-event integrand in the
:mod:`proofcheck.lang.symbols` vocabulary) is instantiated at the event -- ``N``,
``a``, ``j`` / ``b``, ``u_q`` substituted, Sums expanded, ``A[i]``, ``A0``,
``attn_q`` replaced by their softmax expressions -- and the difference is
decided: first with the softmax denominator Z as an independent symbol (clear
denominators, expand: 0 proves it), else by ``cancel`` with Z substituted (the
softmax normalisation).  A residual that stays nonzero is evaluated exactly
at random points: clearly nonzero refutes, numerically ~0 is INCONCLUSIVE.
Nothing is decided by SymPy's assumption system (whose ``None`` would only
mean "not proved").

Because the expectation of SPEC §8 is a finite weighted sum of per-event
integrands, proving every event's identity proves the expected identity.

Events are memoised by their *shape* (:class:`EventShape`): N, the target area
a, and per area the numbers of unmasked and of masked keys.  Two events of one
shape have the same loss and the same instantiated closed form up to renaming
of the key symbols, because the vocabulary refers to keys only through area
masses and the key q itself.  Areas are *not* relabelled, so a statement that
singles out an area (``z[1]``) is proved for exactly that area.
"""
from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sympy as sp

from proofcheck.setting.instance import Instance
from proofcheck.engine import resultcache
from proofcheck.lang.symbols import A, A0, N, a, attn_q, b, j, u_q, z, VOCABULARY
from proofcheck.verdict import CheckResult, Verdict

COORDINATES = ("fp", "pp", "q")
#: bump when the meaning of a cached proof changes
CACHE_VERSION = 1
#: digits used to evaluate a residual that did not cancel
WITNESS_DIGITS = 30
#: |residual| / scale above this at WITNESS_DIGITS digits is a genuine counterexample
WITNESS_THRESHOLD = 1e-20


@dataclass(frozen=True)
class Event:
    """One event of SPEC §8's expectation: cluster k (0-based), masked query p,
    the masked set M (sorted), in key-set variant ``key_set``."""

    k: int
    p: int
    masked: tuple[int, ...]
    key_set: str

    def keys(self, inst: Instance) -> list[int]:
        """The key set S: every position (variant B) or the unmasked ones (A)."""
        return [q for q in range(inst.P) if self.key_set == "B" or q not in self.masked]

    def describe(self) -> str:
        return f"cluster {self.k + 1}, p={self.p}, M={{{', '.join(map(str, self.masked))}}}, key set {self.key_set}"

    def to_dict(self) -> dict:
        return {"cluster": self.k + 1, "p": self.p, "masked": list(self.masked), "key_set": self.key_set}


@dataclass(frozen=True)
class EventShape:
    """What an event's per-row identity depends on, up to renaming of key symbols:
    N_k, the 1-based target area a, and per area i the numbers of unmasked keys
    and of masked keys in S (the latter includes p itself in variant B)."""

    N: int
    a: int
    unmasked: tuple[int, ...]
    masked: tuple[int, ...]

    @classmethod
    def of(cls, inst: Instance, ev: Event) -> "EventShape":
        areas = inst.clusters[ev.k].areas
        keys = set(ev.keys(inst))
        um = tuple(sum(1 for q in area if q in keys and q not in ev.masked) for area in areas)
        mk = tuple(sum(1 for q in area if q in keys and q in ev.masked) for area in areas)
        return cls(len(areas), int(inst.area_of[ev.k, ev.p]) + 1, um, mk)

    def key(self) -> str:
        return f"N{self.N}-a{self.a}-u{','.join(map(str, self.unmasked))}-m{','.join(map(str, self.masked))}"


def events_of(inst: Instance, key_set: str):
    """Every event (k, p, M) with p in M, in a fixed order."""
    for k in range(inst.K):
        for p in range(inst.P):
            others = [q for q in range(inst.P) if q != p]
            for bits in itertools.product((False, True), repeat=len(others)):
                masked = tuple(sorted([p] + [q for q, m in zip(others, bits) if m]))
                yield Event(k, p, masked, key_set)


class EventLoss:
    """The per-event, per-row loss of SPEC DEF-LOSS-MAE as a SymPy expression in
    the row's correlations, with the softmax expressions of the vocabulary.

    The exponentials of the logits' parts are positive symbols from the start:
    ``P_j = exp(z_j phi_j)`` and ``U_q = exp(ups_q)`` (for fixed z each is a
    bijection of the reals onto the positive reals), so every expression is a
    rational function and derivatives follow by the chain rule
    ``d/dphi_j = z_j P_j d/dP_j``, ``d/dups_q = U_q d/dU_q``."""

    def __init__(self, inst: Instance, ev: Event):
        self.inst, self.event = inst, ev
        self.N = len(inst.clusters[ev.k].areas)
        self.a = int(inst.area_of[ev.k, ev.p]) + 1
        self.area = {q: int(inst.area_of[ev.k, q]) + 1 for q in range(inst.P)}
        self.keys = ev.keys(inst)
        self.unmasked = {q: q not in ev.masked for q in self.keys}
        k1 = ev.k + 1
        self.phi = {jj: sp.Symbol(f"Phi_{{{ev.p}->v_{{{k1},{jj}}}}}", real=True) for jj in range(1, self.N + 1)}
        self.ups = {q: sp.Symbol(f"Ups_{{{ev.p}->{q}}}", real=True) for q in self.keys}
        self.P_sym = {jj: sp.Symbol(f"P_{jj}", positive=True) for jj in self.phi}
        self.U_sym = {q: sp.Symbol(f"U_{q}", positive=True) for q in self.keys}
        # exp of the SPEC DEF-CORR logit z_b phi_b 1{q in U} + ups_q
        self.expo = {q: (self.P_sym[self.area[q]] if self.unmasked[q] else 1) * self.U_sym[q] for q in self.keys}
        self.Z = sp.Add(*self.expo.values())
        self.empty = not self.keys  # variant A with U empty: F_p = 0 (SPEC DEF-LOSS-MAE)
        # F_p = sum_q attn_q x~_q; the keys of area f share the value z_f v_{k,f}, so in the
        # orthonormal basis v_{k,1..N} its f-th coordinate is z_f (sum of their exp) / Z
        F = [0 if self.empty else z[f] * sp.Add(*[self.expo[q] for q in self.keys
                                                   if self.unmasked[q] and self.area[q] == f]) / self.Z
             for f in range(1, self.N + 1)]
        x_p = [z[f] if f == self.a else 0 for f in range(1, self.N + 1)]
        self.loss = sp.Rational(1, 2) * sp.Add(*[(x_p[f] - F[f]) ** 2 for f in range(self.N)])

    def attn(self, q: int):
        return 0 if self.empty else self.expo[q] / self.Z

    def area_mass(self, i: int):
        """A_{p,i}: mass on the unmasked keys of area i (SPEC DEF-CORR)."""
        return sp.Add(*[self.attn(q) for q in self.keys if self.unmasked[q] and self.area[q] == i])

    def masked_mass(self):
        """A_{p,0}: mass on masked keys (0 in variant A)."""
        return sp.Add(*[self.attn(q) for q in self.keys if not self.unmasked[q]])

    @lru_cache(maxsize=None)  # noqa: B019  (EventLoss objects are themselves cached: see event_loss)
    def ascent_phi(self, jj: int) -> sp.Expr:
        """-dl/dphi_j = -z_j P_j dl/dP_j, derived by sympy.diff from the model's loss."""
        return -z[jj] * self.P_sym[jj] * sp.diff(self.loss, self.P_sym[jj])

    @lru_cache(maxsize=None)  # noqa: B019
    def ascent_ups(self, q: int) -> sp.Expr:
        """-dl/dups_q = -U_q dl/dU_q."""
        return -self.U_sym[q] * sp.diff(self.loss, self.U_sym[q])

    def instantiate(self, closed_form, *, jj: int | None = None, q: int | None = None) -> sp.Expr:
        """The closed form at this event: N, a, j (FP) or b, u_q (key q)
        substituted, Sums expanded, A[i], A0, attn_q replaced by their softmax expressions."""
        subs = {N: self.N, a: self.a}
        if jj is not None:
            subs[j] = jj
        if q is not None:
            subs.update({b: self.area[q], u_q: int(self.unmasked[q])})
        masses = {A[i]: self.area_mass(i) for i in range(1, self.N + 1)}
        masses[A0] = self.masked_mass()
        if q is not None:
            masses[attn_q] = self.attn(q)
        return instantiated(closed_form, tuple(sorted(subs.items(), key=str))).xreplace(masses)

    def point(self, rng: random.Random) -> tuple[dict, dict]:
        """A random exact point: z in [1/2, 2], correlations in [-1, 1] (rationals).
        Returns the point in (z, phi, ups) for the report and its (z, P, U) image."""
        zs = {z[i]: sp.Rational(rng.randint(50, 200), 100) for i in range(1, self.N + 1)}
        coords = {s: sp.Rational(rng.randint(-100, 100), 100) for s in [*self.phi.values(), *self.ups.values()]}
        image = dict(zs)
        image.update({self.P_sym[jj]: sp.exp(zs[z[jj]] * coords[s]).evalf(WITNESS_DIGITS + 10)
                      for jj, s in self.phi.items()})
        image.update({self.U_sym[q]: sp.exp(coords[s]).evalf(WITNESS_DIGITS + 10) for q, s in self.ups.items()})
        return {**zs, **coords}, image


@lru_cache(maxsize=1024)
def event_loss(inst: Instance, ev: Event) -> EventLoss:
    """One EventLoss per event and instance in a process: the lemmas G1, G4,
    G5, G6 and G8 differentiate the same per-event losses, so their derivatives
    (the costly ``sympy.diff``) are shared instead of derived once per lemma."""
    return EventLoss(inst, ev)


@lru_cache(maxsize=4096)
def instantiated(closed_form, subs: tuple) -> sp.Expr:
    """closed_form.subs(subs).doit(), memoised: many events share (N, a, j)."""
    return sp.sympify(closed_form).subs(dict(subs)).doit()


@dataclass
class Component:
    """One coordinate of an event to prove: its label, the derived ascent
    -dl/d(coordinate) and the instantiated closed form."""

    label: str
    derived: sp.Expr
    closed: sp.Expr


def key_groups(el: EventLoss) -> list[int]:
    """One representative key per (area, masked/unmasked) group: within a group
    keys are renamings of each other, so one per group proves them all."""
    seen, reps = set(), []
    for q in el.keys:
        g = (el.area[q], el.unmasked[q])
        if g not in seen:
            seen.add(g)
            reps.append(q)
    return reps


def applies(restriction, **values) -> bool:
    """Whether an event coordinate lies in the claim's restriction (e.g. Eq(j, a))."""
    if restriction is None:
        return True
    named = {"a": a, "j": j, "b": b, "N": N}
    out = sp.sympify(restriction).subs({named[k]: v for k, v in values.items()})
    if out not in (sp.true, sp.false):
        raise ValueError(f"restriction {restriction} does not decide at {values}: {out}")
    return bool(out)


def components(el: EventLoss, closed_form, coordinate: str, restriction=None) -> list[Component]:
    """The coordinates of one event that the claim speaks about, with both sides.

    ``fp``: Phi_{p->v_{k,j}} for j = 1..N; ``pp``: Ups_{p->q} for q in S;
    ``q``: the full row gradient of LEM-G1, whose closed form is sum_q c_q (x~_q + e_q)
    with c_q the claim's per-key coefficient, read along v_{k,j} and e_q."""
    p, k1 = el.event.p, el.event.k + 1
    out = []
    if coordinate in ("fp", "q"):
        for jj in range(1, el.N + 1):
            if coordinate == "fp" and not applies(restriction, j=jj, a=el.a, N=el.N):
                continue
            if coordinate == "fp":
                closed = el.instantiate(closed_form, jj=jj)
            else:
                closed = sp.Add(*[z[jj] * el.instantiate(closed_form, q=q) for q in el.keys
                                  if el.unmasked[q] and el.area[q] == jj])
            out.append(Component(f"Phi_{{{p}->v_{{{k1},{jj}}}}}", el.ascent_phi(jj), closed))
    if coordinate in ("pp", "q"):
        for q in key_groups(el):
            if coordinate == "pp" and not applies(restriction, b=el.area[q], a=el.a, N=el.N):
                continue
            out.append(Component(f"Ups_{{{p}->{q}}}", el.ascent_ups(q), el.instantiate(closed_form, q=q)))
    return out


def vocabulary_problem(closed_form, coordinate: str) -> str | None:
    """Why a closed form cannot be instantiated, or None.  ``j`` only has a
    meaning for FP coordinates, ``b``, ``attn_q``, ``u_q`` only for keys."""
    expr = sp.sympify(closed_form)
    allowed = set(VOCABULARY)
    if coordinate == "fp":
        allowed -= {b, attn_q, u_q}
    else:
        allowed -= {j}
    free = {s for s in expr.free_symbols if not (isinstance(s, sp.Indexed) or s in (z.label, A.label))}
    bound = set()
    for s in expr.atoms(sp.Sum):
        bound |= {lim[0] for lim in s.limits}
    unknown = sorted(str(s) for s in free - allowed - bound)
    if unknown:
        return f"closed form uses {', '.join(unknown)}, which a {coordinate} coordinate does not define"
    return None


@dataclass
class ComponentProof:
    """Result of proving one component: status proved | refuted | undecided."""

    status: str
    residual: sp.Expr | None = None
    witness: dict | None = None
    value: float | None = None
    scale: float | None = None
    reason: str = ""


def polynomial_zero(expr, Z, zeta) -> bool:
    """Fast sufficient test: with the softmax denominator Z replaced by an
    independent symbol zeta, clearing denominators gives the zero polynomial.
    (Identities that need Z = sum of its terms fall through to ``cancel``.)"""
    rz = expr.xreplace({Z: zeta})
    m = max([-int(e.exp) for e in rz.atoms(sp.Pow) if e.base == zeta and e.exp.is_Integer and e.exp < 0],
            default=0)
    return sp.expand(rz * zeta**m) == 0


def decide(el: EventLoss, comp: Component, seed: int) -> ComponentProof:
    """Prove closed == derived at one event coordinate, or find the point that refutes it.

    Order: the fast zero test (Z independent); else one exact evaluation at a
    random point (clearly nonzero refutes without the costly ``cancel``); else
    ``cancel`` with Z = sum_q exp(s_q), i.e. using the softmax normalisation;
    else two more points: clearly nonzero refutes, ~0 is undecided."""
    diff = comp.closed - comp.derived
    if not el.empty and polynomial_zero(diff, el.Z, sp.Dummy("zeta", positive=True)):
        return ComponentProof("proved")
    rng = random.Random(seed)

    def witness(expr):
        pt, image = el.point(rng)
        val = abs(float(sp.N(expr.xreplace(image), WITNESS_DIGITS)))
        if val <= WITNESS_THRESHOLD:
            return None
        scale = sum(abs(float(sp.N(e.xreplace(image), WITNESS_DIGITS))) for e in (comp.closed, comp.derived))
        # the point is O(1) (z, A, attn in [0, 2]), so a genuine error is far above this
        if val <= WITNESS_THRESHOLD * max(scale, 1.0):
            return None
        return ComponentProof("refuted", expr, {str(s): str(v) for s, v in pt.items()}, val, scale)

    found = witness(diff)
    if found:
        return found
    residual = sp.cancel(diff)
    if residual == 0:
        return ComponentProof("proved")
    for _ in range(2):
        found = witness(residual)
        if found:
            return found
    return ComponentProof("undecided", residual, None, None, None, "residual did not cancel to 0 and is ~0 at 3 points")


# -- the check --------------------------------------------------------------------

def prove_identity(closed_form, coordinate: str, inst: Instance, key_set: str, *, restriction=None,
                   cache_dir: Path | None = None, seed: int = 0, name: str = "") -> CheckResult:
    """The symbolic check of one closed form on every event of ``inst`` in one
    key-set variant: PROVED, REFUTED (event and exact point), or INCONCLUSIVE."""
    t0 = time.perf_counter()
    if coordinate not in COORDINATES:
        raise ValueError(f"coordinate must be one of {COORDINATES}, got {coordinate!r}")
    name = name or f"symbolic {coordinate} identity"
    inst = inst.with_options(key_set=key_set)
    base = {"instance": inst.name, "key_set": key_set, "coordinate": coordinate,
            "closed_form": sp.sstr(closed_form),
            "restriction": sp.sstr(restriction) if restriction is not None else None, "sympy": sp.__version__,
            # what a PROVED here covers: this instance's events only (verdict.scope_line words it)
            "scope": {"areas": inst.N_max, "area_counts": sorted(set(inst.N)), "instance": inst.name,
                      "area_sizes": sorted({len(ar) for c in inst.clusters for ar in c.areas}), "masks": "all",
                      "key_sets": [key_set], "z": "free symbols"}}
    problem = vocabulary_problem(closed_form, coordinate)
    if problem is None and not (inst.basis == "aligned" and inst.skew == 0):
        problem = "the symbolic leg builds basis-aligned orthonormal instances; this instance is not one"
    if problem:
        return CheckResult("symbolic", name, Verdict.INCONCLUSIVE, problem, evidence=base, seed=seed,
                           timing_s=time.perf_counter() - t0)
    path = resultcache.entry(cache_dir, closed=sp.srepr(sp.sympify(closed_form)),
                             restriction=sp.srepr(restriction) if restriction is not None else None,
                             coordinate=coordinate, key_set=key_set, sympy=sp.__version__, version=CACHE_VERSION)
    proved = set((resultcache.load(path) or {}).get("proved", ()))
    shapes: dict[EventShape, Event] = {}
    n_events = 0
    for ev in events_of(inst, key_set):
        n_events += 1
        shapes.setdefault(EventShape.of(inst, ev), ev)
    hits = misses = n_components = 0
    undecided: list[dict] = []
    for shape, ev in shapes.items():
        if shape.key() in proved:
            hits += 1
            continue
        misses += 1
        el = event_loss(inst, ev)
        ok = True
        for comp in components(el, closed_form, coordinate, restriction):
            n_components += 1
            out = decide(el, comp, seed)
            if out.status == "refuted":
                return refuted_result(name, base, ev, shape, comp, out, seed, t0, len(shapes), hits + misses - 1)
            if out.status == "undecided":
                ok = False
                undecided.append({"event": ev.to_dict(), "shape": shape.key(), "coordinate": comp.label,
                                  "residual": sp.sstr(out.residual)[:2000], "reason": out.reason,
                                  "witness": out.witness, "abs_value": out.value})
        if ok:
            proved.add(shape.key())
    if misses:
        resultcache.store(path, {"proved": sorted(proved), **base})
    evidence = {**base, "events": n_events, "distinct_shapes": len(shapes), "cache_hits": hits,
                "cache_misses": misses, "components_derived": n_components,
                "reduction": "events memoised by shape (N, a, per-area unmasked/masked key counts): events of one "
                             "shape are equal up to renaming of key symbols; one key per (area, masked) group",
                "expectation": "the expected identity is a weighted sum of per-event identities, so per-event "
                               "proofs prove it for every law of z and every cluster weight",
                "z": "z_1..z_N are free symbols: the proof holds for all z, z > 0 is not used"}
    if undecided:
        evidence["undecided"] = undecided[:5]
        return CheckResult("symbolic", name, Verdict.INCONCLUSIVE,
                           f"[{key_set}] {len(undecided)} event coordinate(s) did not simplify to 0 "
                           f"(numerically ~0); first: {undecided[0]['event']} {undecided[0]['coordinate']}",
                           evidence=evidence, seed=seed, timing_s=time.perf_counter() - t0)
    return CheckResult("symbolic", name, Verdict.PROVED,
                       f"[{key_set}] proved on all {n_events} events of {inst.name} ({len(shapes)} distinct shapes, "
                       f"{hits} from cache)", evidence=evidence, seed=seed, timing_s=time.perf_counter() - t0)


def refuted_result(name, base, ev: Event, shape: EventShape, comp: Component, out: ComponentProof, seed, t0,
                   n_shapes, n_before) -> CheckResult:
    evidence = {**base, "event": ev.to_dict(), "shape": shape.key(), "coordinate": comp.label,
                "residual": sp.sstr(out.residual)[:2000], "abs_residual_at_witness": out.value,
                "scale_at_witness": out.scale, "distinct_shapes": n_shapes, "shapes_checked_before": n_before}
    counterexample = {"event": ev.to_dict(), "coordinate": comp.label, "point": out.witness,
                      "closed_form_minus_derived": out.value,
                      "replay": "el = proofcheck.engine.symbolic.EventLoss(inst, Event(cluster - 1, p, tuple(masked), "
                                "key_set)); evaluate el.instantiate(closed form, jj=j or q=q) - el.ascent_phi(j) "
                                "or el.ascent_ups(q) at the point, with P_j = exp(z_j Phi_j), U_q = exp(Ups_q)"}
    return CheckResult("symbolic", name, Verdict.REFUTED,
                       f"[{base['key_set']}] closed form differs from -dl/d{comp.label} at event {ev.describe()}: "
                       f"|difference| = {out.value:.3g} at a random point", evidence=evidence,
                       counterexample=counterexample, seed=seed, timing_s=time.perf_counter() - t0)
