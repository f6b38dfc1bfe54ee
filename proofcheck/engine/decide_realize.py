"""Realizing an exact counterexample's masses by logits (part of :mod:`proofcheck.engine.decide`).

Realizing a counterexample
--------------------------
:func:`realize` turns masses ``(A_0, A_1..A_N)`` into per-group log-weights
``w_g`` with ``softmax(w) = masses`` (exactly: ``w_g = log A_g``).  A group g
with ``n_g`` keys gets it from the PP correlations ``Ups_{p->q} = w_g - log n_g
- z_g Phi_{p->v_g}`` for its keys.  Masses that are exactly 0 cannot come from
finite logits; ``realize`` then returns the interior point
``(1 - eps) A + eps * uniform`` (at a stated L-infinity distance <= eps), flags
it, and, for a counterexample, says whether the claim still fails there.

"""
from __future__ import annotations

import math
from fractions import Fraction

import sympy as sp
import torch

from proofcheck.lang.cases import Case
from proofcheck.setting.coords import q_from_coords
from proofcheck.setting.instance import DTYPE, Cluster, Instance, ZLaw
from proofcheck.setting.model import attention
from proofcheck.setting.sampling import exact_batch
from proofcheck.engine.decide_solve import Counterexample
from proofcheck.engine.decide_translate import KEY_SETS, fraction, holds

# -- realizing masses by logits ---------------------------------------------------------------------------

def realize(counterexample, *, key_set: str | None = None, epsilon=Fraction(1, 10 ** 6)) -> dict:
    """Per-group log-weights whose softmax gives the masses.

    ``counterexample`` is a :class:`Counterexample` or a sequence ``(A_0, A_1..A_N)``
    of exact numbers on the closed simplex (``key_set`` defaults to the
    counterexample's, else "A" when A_0 == 0 and "B" otherwise).  The groups are
    the areas 1..N, plus the masked keys (A_0) in key set B.

    If every group's mass is > 0 the point is realizable: ``w_g = log A_g``
    (SymPy, exact) and ``softmax(w) = masses`` exactly.  A group with mass exactly
    0 cannot get it from finite logits (softmax is positive), so the point is not
    realizable by correlations; the realizable points are the interior ones,
    which come arbitrarily close, and the function returns
    ``(1 - eps) * masses + eps * uniform`` with ``flagged = True`` and its exact
    L-infinity / L1 distances (at most eps / 2 eps).  (In the model an area's
    mass is also exactly 0 when every patch of it is masked, u_j = 0: an
    instance builder may realize such a zero by a mask instead.  In key set B,
    A_0 > 0 always, since the masked query is itself a key.)  For a
    counterexample the result says whether the claim still fails at the
    returned point (``still_refutes``); eps is shrunk (eps, eps^2, eps^4) while
    it does not.  A group with n_g keys gets mass softmax(w)_g from
    ``Ups_{p->q} = w_g - log n_g - z_g Phi_{p->v_g}`` on each of its keys."""
    ce = counterexample if isinstance(counterexample, Counterexample) else None
    masses = [fraction(x) for x in (ce.masses if ce is not None else counterexample)]
    if key_set is None:
        key_set = ce.key_set if ce is not None else ("A" if masses[0] == 0 else "B")
    if key_set not in KEY_SETS:
        raise ValueError(f"key_set must be one of {KEY_SETS}, got {key_set!r}")
    if any(x < 0 for x in masses) or sum(masses) != 1:
        raise ValueError(f"masses {masses} are not on the simplex")
    if key_set == "A" and masses[0] != 0:
        raise ValueError("key set A has no masked keys: A_0 must be 0")
    names = [f"A_{k}" for k in range(len(masses))]
    groups = names[1:] if key_set == "A" else names
    gm = {g: masses[int(g[2:])] for g in groups}
    zero = [g for g in groups if gm[g] == 0]
    eps = fraction(epsilon)
    if not 0 < eps < 1:
        raise ValueError("epsilon must lie in (0, 1)")

    def moved(e):
        return {g: (1 - e) * gm[g] + e / len(groups) for g in groups}

    realized, used, still = dict(gm), Fraction(0), None
    if zero:
        for t in range(3):
            e = eps ** (2 ** t)
            realized, used = moved(e), e
            still = _still_refutes(ce, realized, key_set) if ce is not None else None
            if still is not False:
                break
    elif ce is not None:
        still = _still_refutes(ce, realized, key_set)
    logits = {g: sp.log(sp.Rational(m.numerator, m.denominator)) for g, m in realized.items()}
    linf = max(abs(realized[g] - gm[g]) for g in groups)
    l1 = sum(abs(realized[g] - gm[g]) for g in groups)
    flag = None
    if zero:
        flag = (f"{', '.join(zero)} exactly 0: not realizable by finite logits (softmax is positive); returned the "
                f"interior point at L-inf distance {linf} (eps = {used})")
        if still is False:
            flag += "; the claim does NOT fail there: it fails only on the boundary near this point"
    return {"key_set": key_set, "groups": tuple(groups), "masses": dict(gm), "realized_masses": realized,
            "log_weights": logits, "log_weights_float": {g: float(w) for g, w in logits.items()},
            "interior": not zero, "flagged": bool(zero), "flag": flag, "distance_linf": linf, "distance_l1": l1,
            "epsilon": used, "exact": not zero, "still_refutes": still,
            "pp_recipe": "Ups_{p->q} = w_g - log n_g - z_g Phi_{p->v_g} on each of the n_g keys of group g"}


def _still_refutes(ce: Counterexample, realized: dict, key_set: str) -> bool | None:
    if ce.instance is None:
        return None
    lhs, op, rhs, cond = ce.instance
    sub = {sp.Symbol(f"z_{k}"): sp.Rational(v.numerator, v.denominator) for k, v in enumerate(ce.z, 1)}
    sub.update({sp.Symbol(g): sp.Rational(m.numerator, m.denominator) for g, m in realized.items()})
    if key_set == "A":
        sub[sp.Symbol("A_0")] = sp.Integer(0)
    lv, rv, cv = (sp.sympify(e).xreplace(sub) for e in (lhs, rhs, cond))
    if cv not in (sp.true, sp.false):
        cv = sp.simplify(cv)
    return bool(cv is sp.true and not holds(lv, op, rv))



# -- realizing a point of the domain in the model -----------------------------------------------------------

def model_event(n: int, key_set: str, a: int, z, masses, gamma: float = 0.5) -> dict:
    """An instance, a mask M, a masked query p and a point (Phi, Ups) (hence Q, LEM-G2)
    whose event (X, M, p) has the scales ``z`` (z_1..z_N) and the attention masses
    ``masses`` = (A_0, A_1..A_N) of SPEC DEF-CORR, target area ``a`` (1-based).

    One cluster with N areas and point-mass z laws (so the event's z is ``z``);
    area a is {p} plus one unmasked patch when A_a > 0, every other area one
    patch.  A mass that is exactly 0 is realized exactly by masking the area's
    patch (in key set A a masked patch is no key; in key set B it joins the
    masked keys, so A_0 gets it); every other group g gets its mass from
    ``Phi = 0``, ``Ups_{p->q} = log(A_g / n_g)`` on its n_g keys.  ``A_0 = 0`` in
    key set B is not attainable (the masked query is itself a key): ``ValueError``.
    Returns {"case", "mask", "query", "masses", "torch_masses"} where
    ``torch_masses`` are recomputed from Q by the torch model (model.attention)."""
    masses = [fraction(x) for x in masses]
    if len(masses) != n + 1 or not 1 <= a <= n:
        raise ValueError(f"need N + 1 = {n + 1} masses and 1 <= a <= N, got {len(masses)} masses and a = {a}")
    if key_set == "B" and masses[0] == 0:
        raise ValueError("A_0 = 0 is not attainable in key set B: the masked query p is itself a key")
    areas, pos = [], 0
    for k in range(1, n + 1):
        size = 1 + (k == a and masses[k] > 0)
        areas.append(tuple(range(pos, pos + size)))
        pos += size
    P, p = pos, areas[a - 1][0]
    masked = {p} | {areas[k - 1][0] for k in range(1, n + 1) if masses[k] == 0 and k != a}
    inst = Instance(P=P, clusters=(Cluster(1.0, tuple(areas), tuple(ZLaw(values=(float(v),)) for v in z)),),
                    gamma=gamma, key_set=key_set, name=f"realized-N{n}-{key_set}")
    group_keys = {0: sorted(masked) if key_set == "B" else []}
    for k in range(1, n + 1):
        group_keys[k] = [q for q in areas[k - 1] if q not in masked]
    Ups = torch.zeros(P, P, dtype=DTYPE)
    for g, keys in group_keys.items():
        for q in keys:
            Ups[p, q] = math.log(masses[g] / len(keys)) if masses[g] > 0 else 0.0
    Phi = torch.zeros(P, inst.F, dtype=DTYPE)
    batch = exact_batch(inst)
    want = torch.zeros(P, dtype=torch.bool)
    want[list(masked)] = True
    row = int((batch.mask == want).all(1).nonzero()[0, 0])
    attn = attention(q_from_coords(Phi, Ups, inst), inst, batch)[row, p]
    got = [float(attn[group_keys[0]].sum()) if group_keys[0] else 0.0]
    got += [float(attn[group_keys[k]].sum()) if group_keys[k] else 0.0 for k in range(1, n + 1)]
    return {"case": Case(inst, Phi, Ups), "mask": [int(q in masked) for q in range(P)], "query": p,
            "masses": [str(m) for m in masses], "torch_masses": got}
