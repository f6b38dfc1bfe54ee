"""The symbolic leg (proofcheck.engine.symbolic): the per-event loss it differentiates is
SPEC's, true identities are PROVED in both key sets, planted wrong ones are
REFUTED with a replayable event and point, and proofs are cached."""
import math
import random

import pytest
import sympy as sp

from proofcheck.setting.instance import fixture_6, make_instance
from proofcheck.engine.symbolic import Event, EventLoss, EventShape, events_of, prove_identity
from proofcheck.lang.symbols import A, A0, N, R_p, a, attn_q, b, delta, i, j, u_q, z
from proofcheck.verdict import Verdict

# SPEC LEM-G4 and LEM-G8, written out here (not imported from the lemma files)
G4 = z[j] * A[j] * (z[j] ** 2 * (delta(j, a) - A[j]) + R_p)
G8 = attn_q * (u_q * z[b] ** 2 * (delta(b, a) - A[b]) + R_p)


def spec_row_loss(inst, ev, zs, phi, ups):
    """1/2 ||x_p - F_p||^2 from SPEC DEF-CORR by hand: softmax over S of
    z_b phi_b 1{q in U} + ups_q, masses A_i, then ||r_p||^2 = z_a^2 (1 - A_a)^2 + sum_{i != a} z_i^2 A_i^2."""
    areas = inst.clusters[ev.k].areas
    area = {q: n for n, ar in enumerate(areas) for q in ar}
    keys = [q for q in range(inst.P) if ev.key_set == "B" or q not in ev.masked]
    logit = {q: (zs[area[q]] * phi[area[q]] if q not in ev.masked else 0.0) + ups[q] for q in keys}
    Z = sum(math.exp(s) for s in logit.values())
    mass = [sum(math.exp(logit[q]) / Z for q in keys if area[q] == n and q not in ev.masked) for n in range(len(areas))]
    a_ = area[ev.p]
    r2 = zs[a_] ** 2 * (1 - mass[a_]) ** 2 + sum(zs[n] ** 2 * mass[n] ** 2 for n in range(len(areas)) if n != a_)
    return 0.5 * r2


def numeric_point(el, rng):
    zs = [rng.uniform(0.5, 2.0) for _ in range(el.N)]
    phi = [rng.uniform(-1, 1) for _ in range(el.N)]
    ups = {q: rng.uniform(-1, 1) for q in range(el.inst.P)}
    subs = {z[n + 1]: zs[n] for n in range(el.N)}
    subs.update({el.P_sym[n + 1]: math.exp(zs[n] * phi[n]) for n in range(el.N)})
    subs.update({el.U_sym[q]: math.exp(ups[q]) for q in el.keys})
    return zs, phi, ups, subs


@pytest.mark.parametrize("key_set", ["B", "A"])
@pytest.mark.parametrize("k, p, masked", [(0, 0, (0, 2, 5)), (1, 4, (1, 4)), (1, 3, (0, 3, 4))])
def test_event_loss_is_spec_row_loss_and_its_derivatives(key_set, k, p, masked):
    inst = fixture_6()
    ev = Event(k, p, masked, key_set)
    el = EventLoss(inst, ev)
    zs, phi, ups, subs = numeric_point(el, random.Random(1))
    assert float(el.loss.xreplace(subs)) == pytest.approx(spec_row_loss(inst, ev, zs, phi, ups), rel=1e-12)
    # the chain-rule derivatives are those of the loss: central differences of SPEC's row loss
    h = 1e-6
    for jj in range(1, el.N + 1):
        up, down = list(phi), list(phi)
        up[jj - 1] += h
        down[jj - 1] -= h
        fd = -(spec_row_loss(inst, ev, zs, up, ups) - spec_row_loss(inst, ev, zs, down, ups)) / (2 * h)
        assert float(el.ascent_phi(jj).xreplace(subs)) == pytest.approx(fd, abs=1e-8)
    for q in el.keys:
        up, down = dict(ups), dict(ups)
        up[q] += h
        down[q] -= h
        fd = -(spec_row_loss(inst, ev, zs, phi, up) - spec_row_loss(inst, ev, zs, phi, down)) / (2 * h)
        assert float(el.ascent_ups(q).xreplace(subs)) == pytest.approx(fd, abs=1e-8)


def test_events_and_shapes_of_fixture_6():
    inst = fixture_6()
    evs = list(events_of(inst, "B"))
    # K clusters x P queries x 2^(P-1) masks containing the query
    assert len(evs) == 2 * 6 * 2**5
    assert len(set(evs)) == len(evs)
    shapes = {EventShape.of(inst, ev) for ev in evs}
    # cluster 1 (two areas of 3): 2 target areas x 3 x 4 counts; cluster 2 (three areas of 2): 3 x 2 x 3 x 3
    assert len(shapes) == 2 * 3 * 4 + 3 * 2 * 3 * 3


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_lem_g4_proved_and_cached(key_set, tmp_path):
    first = prove_identity(G4, "fp", fixture_6(), key_set, cache_dir=tmp_path)
    assert first.verdict is Verdict.PROVED, first.summary
    assert first.evidence["events"] == 384 and first.evidence["cache_misses"] == first.evidence["distinct_shapes"]
    second = prove_identity(G4, "fp", fixture_6(), key_set, cache_dir=tmp_path)
    assert second.verdict is Verdict.PROVED
    assert second.evidence["cache_hits"] == second.evidence["distinct_shapes"] and second.evidence["cache_misses"] == 0
    # a different statement does not hit the cache
    other = prove_identity(-G4, "fp", fixture_6(), key_set, cache_dir=tmp_path)
    assert other.verdict is Verdict.REFUTED


def test_lem_g8_proved_on_a_small_instance_in_both_key_sets():
    inst = make_instance(4, [[[0, 1], [2, 3]], [[0, 2, 3], [1]]])
    for key_set in ("B", "A"):
        r = prove_identity(G8, "pp", inst, key_set)
        assert r.verdict is Verdict.PROVED, r.summary


def test_identity_needing_the_softmax_normalisation_is_proved_via_cancel():
    # A0 + sum_i A_i = 1 in key set B: adding a multiple of (A0 + sum A_i - 1) keeps the identity true
    inst = make_instance(3, [[[0, 1], [2]]])
    padded = G4 + z[j] * (A0 + sp.Sum(A[i], (i, 1, N)) - 1)
    assert prove_identity(padded, "fp", inst, "B").verdict is Verdict.PROVED
    # in key set A with U empty all masses are 0, so the same expression is false there
    assert prove_identity(padded, "fp", inst, "A").verdict is Verdict.REFUTED


WRONG_G4 = {
    "sign flipped": -G4,
    "R_p dropped": z[j] * A[j] * z[j] ** 2 * (delta(j, a) - A[j]),
    "z_j -> z_j^2 in front": z[j] ** 2 * A[j] * (z[j] ** 2 * (delta(j, a) - A[j]) + R_p),
    "constant 2 -> 3": z[j] * A[j] * (z[j] ** 3 * (delta(j, a) - A[j]) + R_p),
    "j <-> a swapped": z[a] * A[a] * (z[a] ** 2 * (delta(j, a) - A[a]) + R_p),
}


@pytest.mark.parametrize("label", list(WRONG_G4))
def test_planted_wrong_lem_g4_is_refuted_with_a_replayable_point(label):
    r = prove_identity(WRONG_G4[label], "fp", fixture_6(), "B")
    assert r.verdict is Verdict.REFUTED, r.summary
    cx = r.counterexample
    ev = Event(cx["event"]["cluster"] - 1, cx["event"]["p"], tuple(cx["event"]["masked"]), "B")
    el = EventLoss(fixture_6(), ev)
    jj = int(cx["coordinate"].split(",")[-1].rstrip("}"))
    point = {sp.Symbol(k, real=True): sp.Rational(v) for k, v in cx["point"].items() if not k.startswith("z")}
    zs = {z[int(k[2:-1])]: sp.Rational(v) for k, v in cx["point"].items() if k.startswith("z")}
    # replay: P_j = exp(z_j phi_j), U_q = exp(ups_q) at the reported point
    image = dict(zs)
    image.update({el.P_sym[n]: sp.exp(zs[z[n]] * point[s]) for n, s in el.phi.items()})
    image.update({el.U_sym[q]: sp.exp(point[s]) for q, s in el.ups.items()})
    diff = el.instantiate(WRONG_G4[label], jj=jj) - el.ascent_phi(jj)
    assert abs(float(sp.N(diff.xreplace(image), 30))) == pytest.approx(cx["closed_form_minus_derived"], rel=1e-10)
    assert cx["closed_form_minus_derived"] > 1e-6


def test_restriction_limits_the_coordinates():
    # LEM-G5's closed form is only claimed for j = a; as a claim for every j it is false
    g5 = z[a] * A[a] * (z[a] ** 2 * (1 - A[a]) ** 2 + sp.Sum((1 - delta(i, a)) * z[i] ** 2 * A[i] ** 2, (i, 1, N)))
    inst = make_instance(4, [[[0, 1], [2, 3]]])
    assert prove_identity(g5, "fp", inst, "B", restriction=sp.Eq(j, a)).verdict is Verdict.PROVED
    assert prove_identity(g5, "fp", inst, "B").verdict is Verdict.REFUTED


def test_symbols_foreign_to_the_coordinate_are_inconclusive_not_proved():
    r = prove_identity(G4 + attn_q, "fp", fixture_6(), "B")
    assert r.verdict is Verdict.INCONCLUSIVE and "attn_q" in r.summary
