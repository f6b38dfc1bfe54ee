"""Exact decisions of pointwise claims with z3 (proofcheck.engine.decide).

The claims are written out here from SPEC §7-§8 in a vocabulary of the test's
own (the module matches symbols by name), and every counterexample is
re-evaluated with Fractions by formulas written independently below.
"""
from __future__ import annotations

import json
from fractions import Fraction
from types import SimpleNamespace

import pytest
import sympy as sp

from proofcheck.engine.decide import (
    INCONCLUSIVE,
    PROVED,
    REFUTED,
    Claim,
    Decision,
    UnsupportedClaim,
    configurations,
    decide,
    decision_key,
    largest_proved,
    realize,
)

# -- the vocabulary, spelled out here -------------------------------------------------------------

z = sp.IndexedBase("z")
A = sp.IndexedBase("A")
A0 = sp.Symbol("A_0")
N = sp.Symbol("N", integer=True, positive=True)
i, j, a = sp.symbols("i j a", integer=True, positive=True)
d = sp.KroneckerDelta
z2_max = sp.Symbol("z2_max")
A_loc_max = sp.Symbol("A_loc_max")

R_p = sp.Sum(z[i] ** 2 * A[i] ** 2, (i, 1, N)) - z[a] ** 2 * A[a]
R2 = z[a] ** 2 * (1 - A[a]) ** 2 + sp.Sum((1 - d(i, a)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))   # ||r_p||^2
G5 = z[a] * A[a] * R2                                                                          # LEM-G5
G4 = z[j] * A[j] * (z[j] ** 2 * (d(j, a) - A[j]) + R_p)                                        # LEM-G4
OTHERS = sp.Sum((1 - d(i, a)) * (1 - d(i, j)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))
OWN_A = z[a] ** 2 * A[a] * (1 - A[a])
OWN_J = z[j] ** 2 * A[j] * (1 - A[j])
G6 = z[j] * A[j] * (OTHERS - OWN_A - OWN_J)                                                    # LEM-G6
G6_CONDITION = sp.And(sp.Ne(j, a), sp.GreaterThan(OWN_A + OWN_J, OTHERS, evaluate=False))
G7 = G6.subs(j, 1)                                                                             # LEM-G7, j = 1
G7_SPEC_APPROX = -z[1] ** 3 * A[1] ** 2 * (1 - A[1])
OTHERS_7 = sp.Sum((1 - d(i, a)) * (1 - d(i, 1)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))
G7_CORRECTED = -z[1] * A[1] * (z[1] ** 2 * A[1] * (1 - A[1]) + z[a] ** 2 * A[a] * (1 - A[a]) - OTHERS_7)
LOCAL = sp.Ne(a, 1)


# -- independent exact evaluation -----------------------------------------------------------------

def r2_value(zs, As, t):
    """||r_p||^2 at 1-based target t."""
    return zs[t - 1] ** 2 * (1 - As[t - 1]) ** 2 + sum(zs[k] ** 2 * As[k] ** 2 for k in range(len(As)) if k != t - 1)


def g5_value(zs, As, t):
    return zs[t - 1] * As[t - 1] * r2_value(zs, As, t)


def g6_value(zs, As, t, jj):
    """The LEM-G6 integrand z_j A_j (sum_{i != a,j} z_i^2 A_i^2 - z_a^2 A_a (1-A_a) - z_j^2 A_j (1-A_j))."""
    others = sum(zs[k] ** 2 * As[k] ** 2 for k in range(len(As)) if k not in (t - 1, jj - 1))
    own = zs[t - 1] ** 2 * As[t - 1] * (1 - As[t - 1]) + zs[jj - 1] ** 2 * As[jj - 1] * (1 - As[jj - 1])
    return zs[jj - 1] * As[jj - 1] * (others - own)


def assert_on_domain(ce, key_set, n, z_positive=False):
    assert len(ce.z) == n and len(ce.A) == n
    assert all(isinstance(x, Fraction) for x in (*ce.z, *ce.A, ce.A0))
    assert all(x >= 0 for x in ce.A) and ce.A0 >= 0
    assert ce.A0 + sum(ce.A) == 1
    if key_set == "A":
        assert ce.A0 == 0
    if z_positive:
        assert all(x > 0 for x in ce.z)


def statuses(decisions):
    return {dd.n: dd.status for dd in decisions}


# -- LEM-G5 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_set", ["A", "B"])
def test_g5_sign_proved_for_small_n_in_both_key_sets(key_set):
    for claim in (Claim(G5, ">=", 0), Claim(G4, ">=", 0, sp.Eq(j, a))):  # ||r||^2 form and G4 form at j = a
        ds = decide(claim, key_set=key_set, n_max=3, z_positive=True, timeout_ms=20_000)
        assert statuses(ds) == {1: PROVED, 2: PROVED, 3: PROVED}
        for dd in ds:
            assert dd.counterexample is None
            assert dd.scope == {"areas": dd.n, "key_set": key_set, "z": "positive", "masks": "all",
                                "area_sizes": "all"}
            assert all(c["status"] == PROVED for c in dd.configurations)
        assert largest_proved(ds) == 3
    ds = decide(Claim(G5, ">=", 0), key_set=key_set, n_max=3, z_interval=(Fraction(1, 4), 2), timeout_ms=20_000)
    assert statuses(ds) == {1: PROVED, 2: PROVED, 3: PROVED}
    assert ds[0].scope["z"] == "[1/4, 2]"


@pytest.mark.parametrize("key_set", ["A", "B"])
def test_g5_sign_without_positive_z_is_refuted_exactly(key_set):
    ds = decide(Claim(G5, ">=", 0), key_set=key_set, n_max=3, timeout_ms=20_000)
    by_n = {dd.n: dd for dd in ds}
    # key set A with one area: A_1 = 1, so the residual vanishes and the claim holds for any z
    assert by_n[1].status == (PROVED if key_set == "A" else REFUTED)
    for n in (2, 3) if key_set == "A" else (1, 2, 3):
        dd = by_n[n]
        assert dd.status == REFUTED
        ce = dd.counterexample
        assert_on_domain(ce, key_set, n)
        value = g5_value(ce.z, ce.A, ce.indices["a"])
        assert value < 0
        assert ce.lhs == value and ce.rhs == 0
        assert ce.z[ce.indices["a"] - 1] < 0  # only a negative scale can make it fail


# -- deliberately wrong claims ---------------------------------------------------------------------------

def test_wrong_direction_is_refuted():
    for key_set in ("A", "B"):
        ds = decide(Claim(G5, "<=", 0), key_set=key_set, n_max=2, z_positive=True, timeout_ms=20_000)
        ce = {dd.n: dd for dd in ds}[2].counterexample
        assert ce is not None
        assert_on_domain(ce, key_set, 2, z_positive=True)
        assert g5_value(ce.z, ce.A, ce.indices["a"]) > 0


def test_sign_flip_of_a_term_is_refuted_once_the_term_exists():
    flipped = z[a] * A[a] * (z[a] ** 2 * (1 - A[a]) ** 2 - sp.Sum((1 - d(i, a)) * z[i] ** 2 * A[i] ** 2, (i, 1, N)))
    ds = decide(Claim(flipped, ">=", 0), key_set="B", n_max=2, z_positive=True, timeout_ms=20_000)
    assert statuses(ds) == {1: PROVED, 2: REFUTED}  # at N = 1 the flipped sum is empty
    ce = ds[1].counterexample
    assert_on_domain(ce, "B", 2, z_positive=True)
    t = ce.indices["a"]
    other = 2 if t == 1 else 1
    value = ce.z[t - 1] * ce.A[t - 1] * (ce.z[t - 1] ** 2 * (1 - ce.A[t - 1]) ** 2
                                         - ce.z[other - 1] ** 2 * ce.A[other - 1] ** 2)
    assert value < 0 and ce.lhs == value


def test_wrong_constant_in_a_max_bound_is_refuted_and_the_right_one_proved():
    # ||r||^2 <= 2 max_i z_i^2 (1 - A_a)^2 holds (sum_{i != a} A_i^2 <= (1 - A_a)^2), for any real z;
    # the constant 2 is attained at A_a = 0, A_b = 1, z_a^2 = z_b^2
    for key_set in ("A", "B"):
        good = decide(Claim(R2, "<=", 2 * z2_max * (1 - A[a]) ** 2), key_set=key_set, n_max=3, timeout_ms=20_000)
        assert statuses(good) == {1: PROVED, 2: PROVED, 3: PROVED}
        assert any("conjunction only" in v for v in good[1].encoding.values())  # an upper-bound use of the max
        bad = decide(Claim(R2, "<=", Fraction(3, 2) * z2_max * (1 - A[a]) ** 2), key_set=key_set, n_max=2,
                     timeout_ms=20_000)
        assert statuses(bad) == {1: PROVED, 2: REFUTED}
        ce = bad[1].counterexample
        assert_on_domain(ce, key_set, 2)
        t = ce.indices["a"]
        lhs = r2_value(ce.z, ce.A, t)
        rhs = Fraction(3, 2) * max(x ** 2 for x in ce.z) * (1 - ce.A[t - 1]) ** 2
        assert lhs > rhs and (ce.lhs, ce.rhs) == (lhs, rhs)


def test_dropped_term_is_refuted_where_it_matters():
    # LEM-G6's implication with the -z_j^2 A_j (1 - A_j) term dropped from the integrand: harmless at N = 2
    # (no third area), false at N = 3
    dropped = z[j] * A[j] * (OTHERS - OWN_A)
    ds = decide(Claim(dropped, "<=", 0, G6_CONDITION), key_set="A", n_max=3, z_positive=True, timeout_ms=20_000)
    assert statuses(ds) == {2: PROVED, 3: REFUTED}
    ce = ds[1].counterexample
    assert_on_domain(ce, "A", 3, z_positive=True)
    t, jj = ce.indices["a"], ce.indices["j"]
    assert t != jj
    third = ({1, 2, 3} - {t, jj}).pop()
    zs, As = ce.z, ce.A
    others = zs[third - 1] ** 2 * As[third - 1] ** 2
    own = zs[t - 1] ** 2 * As[t - 1] * (1 - As[t - 1]) + zs[jj - 1] ** 2 * As[jj - 1] * (1 - As[jj - 1])
    assert own >= others  # the condition holds at the counterexample
    value = zs[jj - 1] * As[jj - 1] * (others - zs[t - 1] ** 2 * As[t - 1] * (1 - As[t - 1]))
    assert value > 0 and ce.lhs == value


def test_claim_true_inside_the_simplex_fails_on_its_boundary():
    # "strictly increasing while there is residual": z_a A_a ||r||^2 > 0 holds at every interior point with
    # 0 < A_a < 1, so it fails only on the boundary -- except in key set A with one area, where the only point
    # A_1 = 1 is attained (every key in the target area) and the residual is 0
    strict = Claim(G5, ">", 0)
    for key_set in ("A", "B"):
        ds = decide(strict, key_set=key_set, n_max=2, z_positive=True, timeout_ms=20_000)
        assert statuses(ds) == {1: REFUTED, 2: REFUTED}
        for dd in ds:
            ce = dd.counterexample
            assert_on_domain(ce, key_set, dd.n, z_positive=True)
            assert g5_value(ce.z, ce.A, ce.indices["a"]) == 0
            r = realize(ce)
            if key_set == "A" and dd.n == 1:
                assert ce.interior and ce.A == (1,)
                assert not r["flagged"] and r["still_refutes"] is True
                continue
            assert not ce.interior
            assert min(ce.A) == 0 or (key_set == "B" and ce.A0 == 0)
            assert r["flagged"] and r["still_refutes"] is False
        # the same claim restricted to the interior is proved
        for n in (1, 2):
            inside = [A[k] > 0 for k in range(1, n + 1)] + ([A0 > 0] if key_set == "B" else [])
            if key_set == "A" and n == 1:
                continue  # the only point is the vertex A_1 = 1
            dd = decide(Claim(G5, ">", 0, sp.And(*inside)), key_set=key_set, n_min=n, n_max=n, z_positive=True,
                        timeout_ms=20_000)
            assert [x.status for x in dd] == [PROVED]


def test_claim_failing_at_a_single_face_point():
    # the condition pins the simplex to the single point (A_0, A_1, A_2) = (11/20, 0, 9/20), where A_1 >= 1/10
    # fails: z3 must find exactly that point
    cond = sp.And(sp.GreaterThan(A0, Fraction(11, 20), evaluate=False), sp.GreaterThan(A[2], Fraction(9, 20),
                                                                                         evaluate=False))
    claim = Claim(A[1], ">=", Fraction(1, 10), cond)
    ds = decide(claim, key_set="B", n_min=2, n_max=3, timeout_ms=20_000)
    assert statuses(ds) == {2: REFUTED, 3: REFUTED}
    for dd in ds:
        ce = dd.counterexample
        assert (ce.A0, ce.A[0], ce.A[1]) == (Fraction(11, 20), 0, Fraction(9, 20))
        assert all(x == 0 for x in ce.A[2:])
        r = realize(ce)
        assert r["flagged"] and r["still_refutes"] is False  # no event's masses satisfy the condition
    # key set A: A_0 = 0 contradicts the condition, so the claim holds vacuously (and is still reported)
    assert statuses(decide(claim, key_set="A", n_min=2, n_max=2, timeout_ms=20_000)) == {2: PROVED}


# -- LEM-G7 ------------------------------------------------------------------------------------------------

def g7_value(zs, As, t):
    return g6_value(zs, As, t, 1)


@pytest.mark.parametrize("key_set", ["A", "B"])
def test_spec_g7_approximation_is_refuted_and_the_correction_holds(key_set):
    # SPEC's "integrand ~ -z_1^3 A_1^2 (1 - A_1)" read as an equality is false as soon as a local area exists
    ds = decide(Claim(G7, "==", G7_SPEC_APPROX, LOCAL), key_set=key_set, n_max=3, z_positive=True,
                timeout_ms=20_000)
    assert statuses(ds) == {2: REFUTED, 3: REFUTED}  # N = 1 has no local query
    for dd in ds:
        ce = dd.counterexample
        assert_on_domain(ce, key_set, dd.n, z_positive=True)
        t = ce.indices["a"]
        assert t != 1
        exact = g7_value(ce.z, ce.A, t)
        approx = -ce.z[0] ** 3 * ce.A[0] ** 2 * (1 - ce.A[0])
        assert exact != approx and (ce.lhs, ce.rhs) == (exact, approx)
    # as a one-sided bound: the approximation overestimates the integrand at N = 2 (the dropped term is
    # -z_1 A_1 z_a^2 A_a (1 - A_a) <= 0), but a third area's z_i^2 A_i^2 can outweigh it at N = 3
    below = decide(Claim(G7, "<=", G7_SPEC_APPROX, LOCAL), key_set=key_set, n_max=3, z_positive=True,
                   timeout_ms=20_000)
    assert statuses(below) == {2: PROVED, 3: REFUTED}
    ce = below[1].counterexample
    assert g7_value(ce.z, ce.A, ce.indices["a"]) > -ce.z[0] ** 3 * ce.A[0] ** 2 * (1 - ce.A[0])
    above = decide(Claim(G7, ">=", G7_SPEC_APPROX, LOCAL), key_set=key_set, n_max=2, z_positive=True,
                   timeout_ms=20_000)
    assert statuses(above) == {2: REFUTED}
    # the corrected form (SPEC's 2026-12-02 correction) is an identity; it needs no z > 0
    exact = decide(Claim(G7, "==", G7_CORRECTED, LOCAL), key_set=key_set, n_max=3, timeout_ms=20_000)
    assert statuses(exact) == {2: PROVED, 3: PROVED}
    # the derived bound |integrand - approx| <= z_1 A_1 max z^2 sum_{i>=2} A_i, and the decrease claim
    bound = Claim(sp.Abs(G7 - G7_SPEC_APPROX), "<=", z[1] * A[1] * z2_max * sp.Sum(A[i], (i, 2, N)), LOCAL)
    assert statuses(decide(bound, key_set=key_set, n_max=3, z_positive=True, timeout_ms=20_000)) == \
        {2: PROVED, 3: PROVED}
    probe = decide(bound, key_set=key_set, n_max=2, timeout_ms=20_000)  # z > 0 dropped
    assert statuses(probe) == {2: REFUTED}
    assert probe[0].counterexample.z[0] < 0
    decrease = Claim(G7, "<=", 0, sp.And(LOCAL, sp.LessThan(z2_max * A_loc_max, z[1] ** 2 * A[1], evaluate=False)))
    assert statuses(decide(decrease, key_set=key_set, n_max=3, z_positive=True, timeout_ms=20_000)) == \
        {2: PROVED, 3: PROVED}


def test_g7_ratio_one_plus_za2_over_z12_is_exact_only_with_two_areas_and_no_masked_keys():
    # key set A, N = 2: A_a = 1 - A_1, so the integrand is exactly -z_1^3 A_1^2 (1 - A_1) (1 + z_a^2 / z_1^2)
    claim = Claim(G7, "==", G7_SPEC_APPROX * (1 + z[a] ** 2 / z[1] ** 2), LOCAL)
    assert statuses(decide(claim, key_set="A", n_max=3, z_positive=True, timeout_ms=20_000)) == \
        {2: PROVED, 3: REFUTED}
    ds = decide(claim, key_set="B", n_max=2, z_positive=True, timeout_ms=20_000)
    assert statuses(ds) == {2: REFUTED}
    ce = ds[0].counterexample
    t = ce.indices["a"]
    assert ce.A0 > 0
    assert g7_value(ce.z, ce.A, t) != -ce.z[0] ** 3 * ce.A[0] ** 2 * (1 - ce.A[0]) * (1 + ce.z[t - 1] ** 2 /
                                                                                      ce.z[0] ** 2)


def test_g6_sufficient_condition_proved_and_needs_positive_z():
    claim = Claim(G6, "<=", 0, G6_CONDITION)
    for key_set in ("A", "B"):
        assert statuses(decide(claim, key_set=key_set, n_max=3, z_positive=True, timeout_ms=20_000)) == \
            {2: PROVED, 3: PROVED}
        ds = decide(claim, key_set=key_set, n_max=2, timeout_ms=20_000)
        ce = ds[0].counterexample
        assert ds[0].status == REFUTED and ce.indices["a"] != ce.indices["j"]
        assert g6_value(ce.z, ce.A, ce.indices["a"], ce.indices["j"]) > 0


# -- the max encoding ------------------------------------------------------------------------------------------

def test_max_on_the_lower_bound_side_needs_the_disjunction():
    # max <= sum, written so that the max is not the whole side (a top-level max <= B is split exactly into
    # conjuncts): the max is on the smaller side of the <=
    true_claim = Claim(z2_max - z[1] ** 2 - z[2] ** 2, "<=", 0)
    assert [dd.status for dd in decide(true_claim, key_set="A", n_max=2, timeout_ms=20_000)] == [PROVED]
    # with the conjunction alone the solver may take m above the maximum: never a false REFUTED
    relaxed = decide(true_claim, key_set="A", n_max=2, timeout_ms=20_000, max_encoding="conjunction")
    assert [dd.status for dd in relaxed] == [INCONCLUSIVE]
    assert any("disjunction" in v for v in decide(true_claim, key_set="A", n_max=2)[0].encoding.values())
    for false_claim in (Claim(z2_max - z[1] ** 2, "<=", 0), Claim(z2_max, "<=", z[1] ** 2)):
        ds = decide(false_claim, key_set="A", n_max=2, timeout_ms=20_000)
        assert statuses(ds) == {1: PROVED, 2: REFUTED}  # at N = 1 the maximum is z_1^2
        ce = ds[1].counterexample
        assert ce.z[1] ** 2 > ce.z[0] ** 2
        assert ce.lhs - ce.rhs == max(x ** 2 for x in ce.z) - ce.z[0] ** 2


# -- symmetry --------------------------------------------------------------------------------------------

def test_symmetry_keeps_explicit_areas_and_indices_used_as_numbers():
    # true for a = 1 only: a reduction that forgot the explicit A[1] would prove it
    pinned = Claim(A[a] - A[1], ">=", 0)
    assert {tuple(c.values()) for c in configurations(pinned, 3)} == {(1,), (2,)}
    ds = decide(pinned, key_set="A", n_max=2, timeout_ms=20_000)
    assert statuses(ds) == {1: PROVED, 2: REFUTED}
    assert ds[1].counterexample.indices["a"] != 1
    # an index used as a number: every a is tried
    numeric = Claim(a * A[a], "<=", 1)
    assert len(configurations(numeric, 3)) == 3
    ds = decide(numeric, key_set="A", n_max=2, timeout_ms=20_000)
    assert statuses(ds) == {1: PROVED, 2: REFUTED}
    assert ds[1].counterexample.indices["a"] == 2
    # the reduction agrees with the full enumeration
    for claim in (Claim(G6, "<=", 0, G6_CONDITION), Claim(G4, ">=", 0)):
        for n in (2, 3):
            reduced = decide(claim, key_set="B", n_min=n, n_max=n, z_positive=True, timeout_ms=20_000)
            full = decide(claim, key_set="B", n_min=n, n_max=n, z_positive=True, timeout_ms=20_000, symmetry=False)
            assert [x.status for x in reduced] == [x.status for x in full]


# -- timeouts never pass -------------------------------------------------------------------------------------

def test_tiny_timeout_is_inconclusive_not_proved():
    bound = Claim(sp.Abs(G7 - G7_SPEC_APPROX), "<=", z[1] * A[1] * z2_max * sp.Sum(A[i], (i, 2, N)), LOCAL)
    ds = decide(bound, key_set="B", n_min=4, n_max=4, z_interval=(Fraction(1, 4), 2), timeout_ms=1)
    assert [dd.status for dd in ds] == [INCONCLUSIVE]
    assert "unknown" in ds[0].reason and ds[0].counterexample is None
    ds = decide(Claim(G5, ">=", 0), key_set="A", n_max=3, z_positive=True, budget_s=0)
    assert len(ds) == 3 and ds[0].status in (PROVED, INCONCLUSIVE)
    assert [dd.status for dd in ds[1:]] == [INCONCLUSIVE, INCONCLUSIVE]
    assert all("budget" in dd.reason for dd in ds if dd.status == INCONCLUSIVE)


# -- realize ----------------------------------------------------------------------------------------------------

def softmax(ws):
    es = [sp.exp(w) for w in ws]
    total = sp.Add(*es)
    return [sp.nsimplify(sp.simplify(e / total)) for e in es]


def test_realize_interior_masses_round_trip_exactly():
    for masses, key_set, groups in (((Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)), "B", ("A_0", "A_1", "A_2")),
                                    ((0, Fraction(1, 4), Fraction(3, 4)), "A", ("A_1", "A_2"))):
        r = realize(masses, key_set=key_set)
        assert r["groups"] == groups and not r["flagged"] and r["distance_linf"] == 0
        got = softmax([r["log_weights"][g] for g in groups])
        want = [masses[int(g[2:])] for g in groups]
        assert [Fraction(int(x.p), int(x.q)) for x in got] == want


def test_realize_boundary_masses_moves_inside_and_flags():
    masses = (Fraction(11, 20), Fraction(0), Fraction(9, 20))
    r = realize(masses, key_set="B", epsilon=Fraction(1, 1000))
    assert r["flagged"] and "A_1" in r["flag"]
    realized = [r["realized_masses"][g] for g in r["groups"]]
    assert all(x > 0 for x in realized) and sum(realized) == 1
    dist = max(abs(x - y) for x, y in zip(realized, masses))
    assert dist == r["distance_linf"] and 0 < dist <= Fraction(1, 1000)
    got = softmax([r["log_weights"][g] for g in r["groups"]])
    assert [Fraction(int(x.p), int(x.q)) for x in got] == realized
    with pytest.raises(ValueError):
        realize((Fraction(1, 2), Fraction(1, 3)), key_set="B")  # not on the simplex


def test_realize_interior_counterexample_still_refutes():
    ds = decide(Claim(G5, "<=", 0), key_set="B", n_min=2, n_max=2, z_positive=True, timeout_ms=20_000)
    ce = ds[0].counterexample
    r = realize(ce)
    assert r["still_refutes"] is True
    if ce.interior:
        assert not r["flagged"]
        got = softmax([r["log_weights"][g] for g in r["groups"]])
        assert [Fraction(int(x.p), int(x.q)) for x in got] == [ce.A0, *ce.A]


# -- claim input, cache key, serialisation ------------------------------------------------------------------

def test_package_style_claims_and_symbols_decide_alike():
    zp = sp.IndexedBase("z", positive=True)
    Ap = sp.IndexedBase("A", nonnegative=True)
    ap = sp.Symbol("a", integer=True, positive=True)
    ip = sp.Symbol("i", integer=True, positive=True)
    lhs = zp[ap] * Ap[ap] * (zp[ap] ** 2 * (1 - Ap[ap]) ** 2
                             + sp.Sum((1 - d(ip, ap)) * zp[ip] ** 2 * Ap[ip] ** 2, (ip, 1, N)))
    obj = SimpleNamespace(lhs=lhs, op=">=", rhs=sp.Integer(0), condition=None, label="LEM-G5 sign")
    assert statuses(decide(obj, key_set="B", n_max=2, z_positive=True)) == {1: PROVED, 2: PROVED}
    assert statuses(decide(sp.GreaterThan(lhs, 0, evaluate=False), key_set="B", n_max=1)) == {1: REFUTED}
    with pytest.raises(UnsupportedClaim):
        decide(Claim(sp.Symbol("attn_q") * A[a], ">=", 0), key_set="B", n_max=1)
    with pytest.raises(UnsupportedClaim):
        decide(Claim(sp.Function("Expect")(G5), ">=", 0), key_set="B", n_max=1)


def test_decision_key_is_stable_and_separates_what_matters():
    base = {"key_set": "B", "n": 3, "z_interval": (Fraction(1, 4), 2), "timeout_ms": 1000}
    k = decision_key(Claim(G5, ">=", 0), **base)
    assert k == decision_key(Claim(z[a] * A[a] * R2, ">=", 0, label="another label"), **base)
    changed = [decision_key(Claim(G5, "<=", 0), **base), decision_key(Claim(G5, ">=", 0), **{**base, "n": 2}),
               decision_key(Claim(G5, ">=", 0), **{**base, "key_set": "A"}),
               decision_key(Claim(G5, ">=", 0), **{**base, "z_interval": (Fraction(1, 2), 2)}),
               decision_key(Claim(G5, ">=", 0), **{**base, "timeout_ms": 2000}),
               decision_key(Claim(G5, ">=", 0), **{**base, "z_interval": None, "z_positive": True})]
    assert len({k, *changed}) == 1 + len(changed)


def test_decision_serialises_for_a_disk_cache():
    ds = decide(Claim(G5, ">=", 0), key_set="B", n_max=2, timeout_ms=20_000)
    for dd in ds:
        back = Decision.from_dict(json.loads(json.dumps(dd.to_dict())))
        assert (back.status, back.n, back.key) == (dd.status, dd.n, dd.key)
        if dd.counterexample is not None:
            assert back.counterexample.point() == dd.counterexample.point()
            assert realize(back.counterexample)["still_refutes"] == realize(dd.counterexample)["still_refutes"]


# -- realization in the model (issue 10 item 4) ------------------------------------------------------------------

def _model_masses(event):
    """The event's masses recomputed here from the torch model's attention over the realized mask."""
    import torch

    from proofcheck.setting.coords import q_from_coords
    from proofcheck.setting.model import attention
    from proofcheck.setting.sampling import exact_batch
    case = event["case"]
    inst = case.instance
    batch = exact_batch(inst)
    want = torch.tensor(event["mask"], dtype=torch.bool)
    row = int((batch.mask == want).all(1).nonzero()[0, 0])
    attn = attention(q_from_coords(case.Phi, case.Ups, inst), inst, batch)[row, event["query"]]
    area = inst.area_of[0]
    out = [float(attn[want].sum()) if inst.key_set == "B" else 0.0]
    out += [float(attn[(area == k) & ~want].sum()) for k in range(len(inst.clusters[0].areas))]
    return out, int(area[event["query"]]) + 1


@pytest.mark.parametrize("key_set, a, masses", [
    ("B", 2, (Fraction(1, 10), Fraction(1, 2), Fraction(0), Fraction(2, 5))),   # A_a = 0: area a is {p}, masked
    ("A", 1, (Fraction(0), Fraction(1, 3), Fraction(0), Fraction(2, 3))),       # a zero mass realized by a mask
    ("A", 3, (Fraction(0), Fraction(1, 4), Fraction(1, 4), Fraction(1, 2))),
])
def test_model_event_realizes_the_masses_in_the_torch_model(key_set, a, masses):
    from proofcheck.engine.decide_realize import model_event
    event = model_event(3, key_set, a, (1.0, -0.5, 2.0), masses)
    got, target = _model_masses(event)
    assert target == a and event["mask"][event["query"]] == 1
    # float64 softmax of log-masses: agreement to ~1e-16 relative; 1e-12 leaves room for the sums
    assert got == pytest.approx([float(m) for m in masses], abs=1e-12)
    assert event["case"].instance.clusters[0].z[1].values == (-0.5,)


def test_model_event_rejects_unattainable_or_malformed_points():
    from proofcheck.engine.decide_realize import model_event
    with pytest.raises(ValueError, match="A_0 = 0"):
        model_event(2, "B", 1, (1.0, 1.0), (Fraction(0), Fraction(1, 2), Fraction(1, 2)))
    with pytest.raises(ValueError, match="masses"):
        model_event(2, "A", 3, (1.0, 1.0), (Fraction(0), Fraction(1, 2), Fraction(1, 2)))


def test_refuted_decision_realizes_with_the_counterexample_masses():
    from proofcheck.engine.decide_leg import realize_counterexample
    ds = decide(Claim(G5, ">=", 0), key_set="B", n_max=2)     # z free: false
    ce = next(d.counterexample for d in ds if d.status == REFUTED)
    event = realize_counterexample(ce)
    if ce.A0 > 0:
        got, target = _model_masses(event)
        assert got == pytest.approx([float(m) for m in ce.masses], abs=1e-12) and target == ce.indices["a"]
    else:   # moved inside: A_0 = 0 is not attainable in key set B
        assert event["moved"] and "interior" in event["moved"]
