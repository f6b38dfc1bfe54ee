"""The symbolic leg (proofcheck.engine.symbolic): the per-event loss it differentiates is
SPEC's, true identities are PROVED in both key sets, planted wrong ones are
REFUTED with a replayable event and point, and proofs are cached; the every-N leg
(proofcheck.engine.generic_proof.all_areas_result) as a check, and the words
proofcheck.verdict.scope_line gives a verdict's scope."""
import json
import math
import random
from pathlib import Path

import pytest
import sympy as sp

from proofcheck.setting.instance import fixture_6, make_instance
from proofcheck.engine.symbolic import Event, EventLoss, EventShape, events_of, prove_identity
from proofcheck.lang.symbols import A, A0, N, R_p, a, attn_q, b, delta, i, j, u_q, z
from proofcheck.engine.discovery import load_lemma_file
from proofcheck.engine.generic_proof import all_areas_result
from proofcheck.verdict import CheckResult, LemmaResult, Verdict, scope_line

LEMMAS = Path(__file__).resolve().parent.parent / "lemmas"

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
    # what it covers: fixture-6's events only (N = 2, 3), not every number of areas
    assert first.evidence["scope"] == {"areas": 3, "area_counts": [2, 3], "instance": "fixture-6",
                                       "area_sizes": [2, 3], "masks": "all", "key_sets": [key_set],
                                       "z": "free symbols"}
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


# -- the every-N leg as a check, and what a PROVED covers -------------------------------------


@pytest.mark.parametrize("lemma_file", ["lem_g1_full_gradient.py", "lem_g4_fp_gradient.py",
                                        "lem_g5_target_fp_monotone.py", "lem_g6_nontarget_fp.py",
                                        "lem_g8_pp_gradient.py"])
def test_builtin_identities_are_proved_for_every_number_of_areas(lemma_file, tmp_path):
    claim = load_lemma_file(LEMMAS / lemma_file).claims[0]
    for ks in ("A", "B"):
        r = all_areas_result(claim.expression, claim.coordinate, ks, claim.restriction, cache_dir=tmp_path)
        assert r.verdict is Verdict.PROVED, r.summary
        assert r.evidence["scope"] == {"areas": "all", "area_sizes": "all", "masks": "all", "key_sets": [ks],
                                       "z": "free symbols"}


def test_every_n_proof_is_cached_and_a_new_statement_is_not(tmp_path):
    first = all_areas_result(G8, "pp", "B", cache_dir=tmp_path)
    again = all_areas_result(G8, "pp", "B", cache_dir=tmp_path)
    assert not first.evidence["cached"] and again.evidence["cached"]
    assert again.verdict is first.verdict is Verdict.PROVED and again.evidence["scope"] == first.evidence["scope"]
    other = all_areas_result(G8 + attn_q * (N - 1) * (N - 2) * (N - 3), "pp", "B", cache_dir=tmp_path)
    assert not other.evidence["cached"] and other.verdict is Verdict.REFUTED
    # a refutation comes back from the cache with its exact counterexample, JSON-able
    cached = all_areas_result(G8 + attn_q * (N - 1) * (N - 2) * (N - 3), "pp", "B", cache_dir=tmp_path)
    assert cached.evidence["cached"] and cached.counterexample == other.counterexample
    assert cached.counterexample["N"] == 4 and sp.Rational(cached.counterexample["closed_form"]).is_Rational
    json.dumps(cached.to_dict())


def test_outside_the_polynomial_class_the_scope_says_bounded_n():
    r = all_areas_result(sp.Abs(G4), "fp", "B")  # |G4| != G4: refuted by the bounded fallback
    assert r.verdict is Verdict.REFUTED and r.evidence["scope"]["areas"] == 6


def _every_n(label, ks, areas="all", z_="free symbols"):
    return CheckResult("symbolic", f"{label} [symbolic, every number of areas, key set {ks}]", Verdict.PROVED, "",
                       evidence={"scope": {"areas": areas, "area_sizes": "all", "masks": "all", "key_sets": [ks],
                                           "z": z_}})


def _fixture(label, ks):
    return CheckResult("symbolic", f"{label} [symbolic, fixture-6, key set {ks}]", Verdict.PROVED, "",
                       evidence={"scope": {"areas": 3, "area_counts": [2, 3], "instance": "fixture-6",
                                           "area_sizes": [2, 3], "masks": "all", "key_sets": [ks],
                                           "z": "free symbols"}})


def _sampled(label, key_sets, areas, cases):
    return CheckResult("numeric", f"{label} [numeric, Hypothesis cases]", Verdict.VERIFIED, "",
                       evidence={"scope": {"sampled": "Hypothesis cases", "areas": areas, "key_sets": key_sets,
                                           "cases": cases}})


def _lemma(checks, verdict=Verdict.PROVED):
    return LemmaResult("LEM-X", "t", {}, verdict, checks, "quick", 0)


def test_scope_line_of_a_proof_for_every_number_of_areas():
    checks = [_every_n("c", "B"), _every_n("c", "A"), _fixture("c", "B"), _fixture("c", "A"),
              _sampled("c", ["A", "B"], 6, 10)]
    assert scope_line(_lemma(checks)) == "PROVED for every number of areas, all area sizes and masks, key sets A and B"


def test_scope_line_of_a_fixture_proof_adds_the_sampling():
    checks = [_fixture("c", "B"), _fixture("c", "A"), _sampled("c", ["A", "B"], 8, 12)]
    assert scope_line(_lemma(checks)) == ("PROVED for N in {2, 3} on fixture-6, area sizes 2, 3, every mask, "
                                          "key sets A and B; VERIFIED by sampling for N <= 8 (key sets A and B, "
                                          "12 cases)")


def test_scope_line_is_limited_by_its_weakest_key_set():
    # every N in key set B, but key set A only on fixture-6: the line must not say "every number" for A
    line = scope_line(_lemma([_every_n("c", "B"), _fixture("c", "A"), _fixture("c", "B"),
                              _sampled("c", ["A", "B"], 6, 9)]))
    assert line == ("PROVED for every number of areas, all area sizes and masks, key set B; "
                    "PROVED for N in {2, 3} on fixture-6, area sizes 2, 3, every mask, key set A; "
                    "VERIFIED by sampling for N <= 6 (key sets A and B, 9 cases)")
    # a key set no proof covers is said to be unproved
    line = scope_line(_lemma([_every_n("c", "B"), _sampled("c", ["A", "B"], 6, 9)]))
    assert "not proved in key set A" in line and "VERIFIED by sampling for N <= 6" in line


def test_scope_line_names_the_weakest_claim_first():
    checks = [_every_n("identity", "B"), _every_n("identity", "A"), _sampled("sign", ["A", "B"], 5, 7),
              CheckResult("probe", "probe [outside z_positive]", Verdict.REFUTED, "", affects_verdict=False)]
    assert scope_line(_lemma(checks)) == ("claim 2: VERIFIED by sampling for N <= 5 (key sets A and B, 7 cases); "
                                          "claim 1: PROVED for every number of areas, all area sizes and masks, "
                                          "key sets A and B")


def test_scope_line_of_a_bounded_proof_with_positive_z_and_of_unstated_scopes():
    assert scope_line(_lemma([_every_n("c", "B", areas=6, z_="positive")])) == \
        "PROVED for N <= 6, all area sizes and masks, z > 0, key set B"
    bare = CheckResult("inequality", "c [symbolic]", Verdict.PROVED, "", evidence={"scope": "within ['x']"})
    assert scope_line(_lemma([bare])) == "PROVED (scope not stated)"
    assert scope_line(_lemma([_every_n("c", "B")], Verdict.REFUTED)) is None
    assert scope_line(_lemma([], Verdict.VERIFIED)) is None


def test_scope_line_ignores_a_proof_scope_without_key_sets_and_odd_sampled_ranges():
    # a scope that names no key set cannot widen a key set's claim; a range '1..8' is read as N <= 8
    unkeyed = CheckResult("inequality", "c [symbolic]", Verdict.PROVED, "",
                          evidence={"scope": {"areas": "all", "area_sizes": "all", "masks": "all", "z": "free"}})
    decided = _every_n("c", "B", areas=4)
    decided.name = "c [decision]"
    ranged = CheckResult("inequality", "c [direct sampling]", Verdict.VERIFIED, "",
                         evidence={"scope": {"areas": "1..8", "key_sets": ["A", "B"], "cases": 5}})
    assert scope_line(_lemma([unkeyed, decided, ranged])) == (
        "PROVED for N <= 4, all area sizes and masks, key set B; not proved in key set A; "
        "VERIFIED by sampling for N <= 8 (key sets A and B, 5 cases)")


def test_scope_line_counts_direct_points_apart_from_model_cases():
    decided = _every_n("c", "B", areas=4)
    decided.name = "c [decision]"
    points = CheckResult("inequality", "c [direct sampling]", Verdict.VERIFIED, "",
                         evidence={"scope": {"areas": "1..8", "key_sets": ["A", "B"], "points": 256}})
    assert scope_line(_lemma([decided, points, _sampled("c", ["A", "B"], 5, 10)])) == (
        "PROVED for N <= 4, all area sizes and masks, key set B; not proved in key set A; "
        "VERIFIED by sampling for N <= 8 (key sets A and B, 10 cases, 256 direct points)")


def test_scope_line_of_a_trajectory_claim_names_its_runs_and_only_the_verified_ones():
    def run(name, verdict, key_set="B"):
        return CheckResult("trajectory", f"[D] claim -- {name}", verdict, "",
                           evidence={"run": {"label": f"{name} (eta=1, 10 steps)", "instance": {"key_set": key_set}}})

    line = scope_line(_lemma([run("balanced-P8", Verdict.VERIFIED), run("balanced-P16", Verdict.VERIFIED, "A")]))
    assert line == "VERIFIED along 2 training run(s): balanced-P8, balanced-P16 (key sets A and B)"
    # one claim over several runs is one line, not "claim 1 ... claim 2"
    assert "claim" not in line


def test_scope_line_of_a_sweep_or_real_data_claim_says_what_it_covered():
    on = "a sweep of 4 points: Delta in {0, 0.5} x {1, 15} negatives (key set B), Delta > 0 judged"
    swept = CheckResult("contrast", "sweep", Verdict.VERIFIED, "", evidence={"verified_on": on})
    assert scope_line(_lemma([swept], Verdict.VERIFIED)) == f"VERIFIED on {on}"
    # a claim that was not VERIFIED lends no words, and runs outrank the sweep's own words
    failed = CheckResult("contrast", "sweep", Verdict.INCONCLUSIVE, "", evidence={"verified_on": on})
    assert scope_line(_lemma([failed], Verdict.VERIFIED)) == "VERIFIED (scope not stated)"
