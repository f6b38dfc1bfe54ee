"""Tests of proofcheck.engine.generic_event: gradient identities proved for every
number of areas, area size and mask (the generic-event route).

The closed forms are written here, from SPEC §7-§8, in a vocabulary built in this
file (with the lemma files' assumptions, z > 0 included, to check that symbols are
matched by name).  Refutations are validated independently: each counterexample is
realised as a concrete event and differentiated by torch autograd.
"""
import itertools
import math

import numpy as np
import pytest
import sympy as sp
import torch

from proofcheck.engine.generic_event import GenericProof
from proofcheck.engine.generic_proof import prove_all_areas

# the vocabulary and formulas as the lemma files write them (z declared positive there)
from proofcheck.lang.formulas import G4_ASCENT, G8_ASCENT  # noqa: E402
from proofcheck.lang.symbols import A, A0, N, R_p, a, attn_q, b, delta, i, j, u_q, z  # noqa: E402

G4, G8 = G4_ASCENT, G8_ASCENT
#: SPEC LEM-G5 (j = a) and LEM-G6 (j != a), spelled as in SPEC
G5 = z[a] * A[a] * (z[a] ** 2 * (1 - A[a]) ** 2
                    + sp.Sum((1 - delta(i, a)) * z[i] ** 2 * A[i] ** 2, (i, 1, N)))
G6 = z[j] * A[j] * (sp.Sum((1 - delta(i, a)) * (1 - delta(i, j)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))
                    - z[a] ** 2 * A[a] * (1 - A[a]) - z[j] ** 2 * A[j] * (1 - A[j]))

# the 4th elementary symmetric polynomial of z_i^2 A_i: identically 0 when N <= 3
_I = sp.symbols("i1:5", integer=True, positive=True)
_prod = sp.Mul(*[z[x] ** 2 * A[x] for x in _I])
for s_, t_ in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]:
    _prod *= 1 - delta(_I[s_], _I[t_])
E4 = sp.Sum(_prod, *[(x, 1, N) for x in _I]) / 24
#: identically 0 for N <= 3, not for N = 4
CUBIC_N = (N - 1) * (N - 2) * (N - 3)


def _unsum(e):
    """Sums with concrete limits written out term by term."""
    if isinstance(e, sp.Sum):
        ranges = [range(int(lo), int(hi) + 1) for _, lo, hi in e.limits]
        names = [lim[0] for lim in e.limits]
        return sp.Add(*[_unsum(e.function.xreplace(dict(zip(names, vals))))
                        for vals in itertools.product(*ranges)])
    if not e.args or isinstance(e, sp.Indexed):
        return e
    return e.func(*[_unsum(x) for x in e.args])


def _at(expr, n, **labels):
    """The closed form at N = n and concrete labels, Sums written out."""
    subs = {N: n}
    subs.update({{"a": a, "j": j, "b": b, "u_q": u_q}[k]: v for k, v in labels.items()})
    return _unsum(expr.xreplace(subs))


def test_premise_extra_terms_vanish_up_to_three_areas():
    rng = np.random.default_rng(0)
    for extra in (E4, CUBIC_N * z[j] * A[j]):
        for n in (1, 2, 3, 4):
            pt = {z[k]: sp.Rational(int(rng.integers(1, 9)), 4) for k in range(1, n + 1)}
            pt.update({A[k]: sp.Rational(int(rng.integers(1, 9)), 37) for k in range(1, n + 1)})
            val = sp.expand(_at(extra, n, j=1, a=1).xreplace(pt))
            assert (val == 0) == (n <= 3), (extra, n, val)


# -- an independent model: one concrete event in torch ------------------------------------

def event_loss(area_of, masked, p, zs, key_set, phi, ups):
    """1/2 ||x_p - F_p||^2 of SPEC DEF-MODEL for one event, in float64 torch.
    area_of: 0-based area of each position; masked: set of positions; p in masked."""
    n_areas = len(zs)
    keys = [q for q in range(len(area_of)) if key_set == "B" or q not in masked]
    x = torch.zeros(n_areas, dtype=torch.float64)
    x[area_of[p]] = zs[area_of[p]]
    if not keys:
        return 0.5 * (x ** 2).sum() + 0 * phi.sum() + 0 * ups.sum(), None, keys
    logits = torch.stack([(zs[area_of[q]] * phi[area_of[q]] if q not in masked else 0 * phi[0]) + ups[q]
                          for q in keys])
    attn = torch.softmax(logits, 0)
    F = torch.zeros(n_areas, dtype=torch.float64)
    for t, q in enumerate(keys):
        if q not in masked:
            e = torch.zeros(n_areas, dtype=torch.float64)
            e[area_of[q]] = zs[area_of[q]]
            F = F + attn[t] * e
    return 0.5 * ((x - F) ** 2).sum(), attn, keys


def ascent(area_of, masked, p, zs, key_set, phi0, ups0):
    phi = torch.tensor(phi0, dtype=torch.float64, requires_grad=True)
    ups = torch.tensor(ups0, dtype=torch.float64, requires_grad=True)
    loss, attn, keys = event_loss(area_of, masked, p, zs, key_set, phi, ups)
    g_phi, g_ups = torch.autograd.grad(loss, (phi, ups))
    return -g_phi.numpy(), -g_ups.numpy(), (None if attn is None else attn.detach().numpy()), keys


@pytest.mark.parametrize("key_set", ["A", "B"])
def test_numeric_cross_check_concrete_event(key_set):
    """N = 5 areas of unequal sizes, a random mask (one area wholly masked), random
    phi / ups: autograd of the softmax loss against the closed forms of LEM-G4/G8."""
    rng = np.random.default_rng(7)
    sizes = [1, 2, 3, 4, 5]
    area_of = [k for k, c in enumerate(sizes) for _ in range(c)]
    rng.shuffle(area_of)
    P = len(area_of)
    masked = {q for q in range(P) if rng.random() < 0.4}
    masked |= {q for q in range(P) if area_of[q] == 1}  # area 2 has no visible key
    p = next(q for q in range(P) if area_of[q] == 3)
    masked.add(p)
    assert len(masked) < P
    zs = rng.uniform(0.5, 1.5, size=5)
    phi0 = rng.normal(size=5)
    ups0 = rng.normal(size=P)
    g_phi, g_ups, attn, keys = ascent(area_of, masked, p, zs, key_set, phi0, ups0)
    av = area_of[p]
    Am = np.zeros(5)
    for t, q in enumerate(keys):
        if q not in masked:
            Am[area_of[q]] += attn[t]
    R = float(np.sum(zs ** 2 * Am ** 2) - zs[av] ** 2 * Am[av])
    for jj in range(5):
        closed = zs[jj] * Am[jj] * (zs[jj] ** 2 * ((jj == av) - Am[jj]) + R)
        assert math.isclose(g_phi[jj], closed, rel_tol=1e-9, abs_tol=1e-12), (jj, g_phi[jj], closed)
    assert abs(g_phi[1]) < 1e-15  # no visible key in area 2
    for q in range(P):
        if q not in keys:
            assert g_ups[q] == 0
            continue
        t = keys.index(q)
        u = 0 if q in masked else 1
        bb = area_of[q]
        closed = attn[t] * (u * zs[bb] ** 2 * ((bb == av) - Am[bb]) + R)
        assert math.isclose(g_ups[q], closed, rel_tol=1e-9, abs_tol=1e-12), (q, g_ups[q], closed)


def realise(cx, coordinate):
    """A concrete event with the counterexample's aggregates (one key per group, phi = 0,
    ups = log of the weight) and -d loss/d coordinate there, by autograd."""
    n, av, ks, w = cx["N"], cx["a"], cx["key_set"], cx["weights"]
    zs = np.array([float(cx["z"][k]) for k in range(1, n + 1)])
    area_of, masked, ups = [av - 1], {0}, []  # position 0 is the query p (masked, area a)
    if coordinate == "fp" or cx.get("u_q") == 1:
        ups.append(math.log(float(w["W_0"])) if ks == "B" else 0.0)
    else:
        ups.append(math.log(float(w["W_0_rest"])))
    target = None
    for k in range(1, n + 1):
        if coordinate == "pp" and cx["u_q"] == 1 and k == cx["b"]:
            target = len(area_of)
            area_of.append(k - 1)
            ups.append(math.log(float(w["e_q"])))
            area_of.append(k - 1)
            ups.append(math.log(float(w["E_b_rest"])))
        elif float(w[f"E_{k}"]) > 0:
            area_of.append(k - 1)
            ups.append(math.log(float(w[f"E_{k}"])))
    if coordinate == "pp" and cx["u_q"] == 0:
        target = len(area_of)
        area_of.append(cx["b"] - 1)
        masked.add(target)
        ups.append(math.log(float(w["w_q"])))
    g_phi, g_ups, _, _ = ascent(area_of, masked, 0, zs, ks, np.zeros(n), np.array(ups))
    return g_phi[cx["j"] - 1] if coordinate == "fp" else g_ups[target]


def check_counterexample(res: GenericProof, closed, coordinate, *, min_n=1):
    assert res.proved is False
    cx = res.counterexample
    assert cx is not None and cx["N"] >= min_n
    values = [*cx["z"].values(), *cx["weights"].values(), *cx["masses"].values(), cx["derivative"],
              cx["closed_form"]]
    assert all(isinstance(v, sp.Rational) for v in values), values
    assert cx["derivative"] != cx["closed_form"]
    # the closed form at the reported masses, instantiated here by SymPy
    labels = {"a": cx["a"]}
    labels.update({"j": cx["j"]} if coordinate == "fp" else {"b": cx["b"], "u_q": cx["u_q"]})
    inst = _at(closed, cx["N"], **labels)
    n = cx["N"]
    pt = {z[k]: cx["z"][k] for k in range(1, n + 1)}
    pt.update({A[k]: cx["masses"][f"A_{k}"] for k in range(1, n + 1)})
    pt[A0] = cx["masses"].get("A_0", 0)
    pt[attn_q] = cx["masses"].get("attn_q", 0)
    assert sp.nsimplify(inst.xreplace(pt)) == cx["closed_form"]
    # the masses are the softmax of the weights
    Z = sum(v for k, v in cx["weights"].items() if k.startswith("E_") and k != "E_b_rest") \
        + cx["weights"].get("W_0", 0)
    if Z != 0:
        for k in range(1, n + 1):
            assert cx["masses"][f"A_{k}"] == cx["weights"][f"E_{k}"] / Z
    # the derivative, by autograd of a concrete event realising the point
    d = realise(cx, coordinate)
    assert math.isclose(d, float(cx["derivative"]), rel_tol=1e-9, abs_tol=1e-12), (d, cx["derivative"])
    assert not math.isclose(d, float(cx["closed_form"]), rel_tol=1e-6, abs_tol=1e-9)
    return cx


def assert_all_areas(res: GenericProof, key_sets=("A", "B")):
    assert res.proved is True, res.detail
    assert res.scope["areas"] == "all"
    assert res.scope["area_sizes"] == "all" and res.scope["masks"] == "all"
    assert sorted(res.scope["key_sets"]) == sorted(key_sets)
    assert res.scope["z"] == "free symbols"
    assert isinstance(res.degree_bound, int)
    assert res.counterexample is None
    for ks in key_sets:
        assert any(c.split(": ", 1)[-1].startswith(f"{ks} ") or c.startswith(f"{ks} ") for c in res.cases_checked)


# -- true forms -----------------------------------------------------------------------------

@pytest.mark.parametrize("restriction", [None, sp.Ne(j, a), sp.Eq(j, a)], ids=["all j", "j != a", "j == a"])
def test_G4_proved_for_all_areas_both_key_sets(restriction):
    assert_all_areas(prove_all_areas(G4, "fp", "both", restriction))


def test_G8_proved_for_all_areas_both_key_sets():
    res = prove_all_areas(G8, "pp", "both")
    assert_all_areas(res)
    assert any("u_q=0" in c for c in res.cases_checked if c.startswith("B "))  # masked keys, key set B


def test_G5_and_G6_as_spec_spells_them():
    assert_all_areas(prove_all_areas(G5, "fp", "both", sp.Eq(j, a)))
    assert_all_areas(prove_all_areas(G6, "fp", "both", sp.Ne(j, a)))
    # G6's form is not the target entry: without its restriction it is refuted at j = a
    cx = check_counterexample(prove_all_areas(G6, "fp", "both"), G6, "fp")
    assert cx["j"] == cx["a"]


def test_G1_full_gradient():
    assert_all_areas(prove_all_areas(G8, "q", "both"))
    wrong = G8 * (1 + attn_q)
    assert prove_all_areas(wrong, "q", "both").proved is False


def test_masked_mass_term_separates_key_sets():
    """z_j A_j A_0 is 0 in key set A (no masked keys) but not in B."""
    form = G4 + z[j] * A[j] * A0
    assert_all_areas(prove_all_areas(form, "fp", "A"), key_sets=("A",))
    res = prove_all_areas(form, "fp", "B")
    cx = check_counterexample(res, form, "fp")
    assert cx["key_set"] == "B"


# -- wrong forms ----------------------------------------------------------------------------

FP_WRONG = {
    "sign flip": -G4,
    "R_p dropped": z[j] * A[j] * z[j] ** 2 * (delta(j, a) - A[j]),
    "2 z_j^2": z[j] * A[j] * (2 * z[j] ** 2 * (delta(j, a) - A[j]) + R_p),
}
PP_WRONG = {
    "sign flip": -G8,
    "R_p dropped": attn_q * u_q * z[b] ** 2 * (delta(b, a) - A[b]),
    "2 z_b^2": attn_q * (2 * u_q * z[b] ** 2 * (delta(b, a) - A[b]) + R_p),
}


@pytest.mark.parametrize("name", list(FP_WRONG))
def test_wrong_fp_forms_refuted(name):
    check_counterexample(prove_all_areas(FP_WRONG[name], "fp", "both"), FP_WRONG[name], "fp")


@pytest.mark.parametrize("name", list(PP_WRONG))
def test_wrong_pp_forms_refuted(name):
    check_counterexample(prove_all_areas(PP_WRONG[name], "pp", "both"), PP_WRONG[name], "pp")


@pytest.mark.parametrize("key_set", ["A", "B"])
@pytest.mark.parametrize("extra", ["e4", "cubic N"])
def test_term_vanishing_up_to_three_areas_is_refuted_fp(extra, key_set):
    form = G4 + (E4 if extra == "e4" else CUBIC_N * z[j] * A[j])
    check_counterexample(prove_all_areas(form, "fp", key_set), form, "fp", min_n=4)


@pytest.mark.parametrize("key_set", ["A", "B"])
@pytest.mark.parametrize("extra", ["e4", "cubic N"])
def test_term_vanishing_up_to_three_areas_is_refuted_pp(extra, key_set):
    form = G8 + attn_q * (E4 if extra == "e4" else CUBIC_N * z[b] ** 2 * A[b])
    check_counterexample(prove_all_areas(form, "pp", key_set), form, "pp", min_n=4)


@pytest.mark.parametrize("n0", [2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("restriction", [None, sp.Ne(j, a)], ids=["all j", "j != a"])
def test_term_vanishing_at_one_count_is_refuted(n0, restriction):
    """(N - n0) z_j A_j is 0 only for clusters of n0 areas: proving one count is not enough."""
    form = G4 + (N - n0) * z[j] * A[j]
    cx = check_counterexample(prove_all_areas(form, "fp", "both", restriction), form, "fp")
    assert cx["N"] != n0


@pytest.mark.parametrize("coordinate", ["fp", "pp"])
def test_term_vanishing_up_to_six_areas_is_refuted(coordinate):
    """A coefficient with roots at N = 1..6: the count bound must grow with its degree."""
    poly = sp.Mul(*[N - r for r in range(1, 7)])
    form = G4 + poly * z[j] * A[j] if coordinate == "fp" else G8 + poly * attn_q * z[b] ** 2 * A[b]
    check_counterexample(prove_all_areas(form, coordinate, "both"), form, coordinate, min_n=7)


def test_wrong_only_when_no_key_is_visible():
    """1 - sum_i A_i is 0 on every key-set-A event with a visible key, and 1 when U is
    empty (F_p = 0, every derivative 0): the form is wrong only on that event."""
    form = G4 + z[j] ** 3 * (1 - sp.Sum(A[i], (i, 1, N)))
    cx = check_counterexample(prove_all_areas(form, "fp", "A"), form, "fp")
    assert all(v == 0 for v in cx["masses"].values()) and cx["derivative"] == 0


# -- fallback -------------------------------------------------------------------------------

def test_abs_falls_back_to_bounded_N():
    zr = sp.IndexedBase("z", real=True)  # a real z keeps Abs unevaluated
    form = sp.Abs(zr[j]) * A[j] * (zr[j] ** 2 * (delta(j, a) - A[j])
                                   + sp.Sum(zr[i] ** 2 * A[i] ** 2, (i, 1, N)) - zr[a] ** 2 * A[a])
    assert form.has(sp.Abs)
    res = prove_all_areas(form, "fp", "both", n_max_fallback=4)
    assert res.proved is True, res.detail
    assert res.scope["areas"] == 4 and res.scope["areas"] != "all"
    assert res.scope["z"] == "positive"  # |z_j| = z_j needs z_j >= 0
    assert res.degree_bound is None
    wrong = -form
    res = prove_all_areas(wrong, "fp", "both", n_max_fallback=3)
    assert res.proved is False and res.scope["areas"] == 3
    assert res.counterexample["N"] <= 3


def test_vocabulary_error_is_inconclusive():
    res = prove_all_areas(G4 + 0 * attn_q + attn_q * A[j], "fp")  # attn_q is no FP symbol
    assert res.proved is None
