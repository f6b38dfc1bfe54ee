"""Exact population loss and gradient by sufficient statistics (SPEC DEF-LOSS-MAE, LEM-G3, LEM-G9, DEF-MASK):
agreement with brute-force enumeration, detected fallbacks, a planted wrong count law, the truncation bound,
and the trainer's gradient="population" mode with its max_logit_step."""
import math

import numpy as np
import pytest
import torch

from proofcheck.errors import UsageError
from proofcheck.setting import population, population_laws
from proofcheck.setting.coords import grad_coords
from proofcheck.setting.instance import DTYPE, ZLaw, balanced, fixture_6
from proofcheck.setting.population import population_gradient
from proofcheck.setting.population_laws import MaskLaw
from proofcheck.setting.sampling import exact_batch
from proofcheck.setting.trainer import TrainConfig, coords_at, cpu_threads, logit_step, train
from proofcheck.tolerance import EPS, Tolerance

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Direct calls outside train() get the trainer's one thread too (benches/README.md: 2-20x on a busy box)."""
    with cpu_threads(1):
        yield


AGREE = Tolerance(1e-12, "both sides sum the same O(1) terms in float64, the sum over at most ~10^4 events or "
                         "count vectors, so rounding stays below ~10^4 EPS ~ 2e-12 in the worst case and far "
                         "below in practice; nothing is truncated at these sizes (error_bound = 0 is asserted)")
#: the planted wrong laws move the loss by O(1e-2); any discrepancy above this is a real one
PLANTED = 1e-6

OPTIONS = [(ks, mm, nm) for ks in ("B", "A") for mm in ("bernoulli", "fixed") for nm in ("none", "P", "M")]
SHAPES = {"balanced-K2-N2-P8": dict(P=8, K=2, N=2), "balanced-K1-N3-P9": dict(P=9, K=1, N=3)}


def brute_force(Phi, Ups, inst):
    """Autograd of the coordinate loss on every event (k, z, M): independent of population.py."""
    return grad_coords(Phi, Ups, inst, exact_batch(inst))


def gap(res, ref) -> float:
    loss, gPhi, gUps = ref
    return max(abs(float(res.loss - loss)), float((res.gPhi - gPhi).abs().max()), float((res.gUps - gUps).abs().max()))


def symmetric_points(inst, steps=3, eta=2.0):
    """Q = 0 and the points a few population-GD steps away (symmetric by LEM-G9)."""
    traj = train(inst, TrainConfig(steps=steps, eta=eta, gradient="population", log_every=1))
    return [coords_at(traj, i) for i in range(len(traj.step))]


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("key_set,mask_model,normalisation", OPTIONS)
def test_sufficient_statistics_equal_enumeration(shape, key_set, mask_model, normalisation):
    inst = balanced(gamma=0.4, key_set=key_set, mask_model=mask_model, normalisation=normalisation, **SHAPES[shape])
    points = symmetric_points(inst)
    assert float((points[-1][0] - points[0][0]).abs().max()) > 1e-2        # GD moved: not only Q = 0
    for Phi, Ups in points:
        res = population_gradient(Phi, Ups, inst)
        assert res.method == "sufficient-statistics", res.reason
        assert res.error_bound == 0.0 and res.problems < inst.P * inst.K   # rows shared: fewer problems than rows
        assert gap(res, brute_force(Phi, Ups, inst)) <= AGREE.atol


def test_random_start_is_detected_and_falls_back_to_enumeration():
    inst = balanced(8)
    g = torch.Generator().manual_seed(3)
    Phi, Ups = 0.1 * torch.randn(8, inst.F, dtype=DTYPE, generator=g), 0.1 * torch.randn(8, 8, dtype=DTYPE, generator=g)
    res = population_gradient(Phi, Ups, inst)
    assert res.method == "enumeration" and "not constant on its key classes" in res.reason
    assert gap(res, brute_force(Phi, Ups, inst)) <= AGREE.atol


def test_asymmetric_instance_is_detected_and_falls_back():
    inst = fixture_6()                      # the two partitions cut [6] into single-key cells
    res = population_gradient(torch.zeros(6, inst.F, dtype=DTYPE), torch.zeros(6, 6, dtype=DTYPE), inst)
    assert res.method == "enumeration" and "single key" in res.reason


def test_too_large_for_enumeration_falls_back_to_monte_carlo():
    inst = balanced(24)
    Ups = torch.zeros(24, 24, dtype=DTYPE)
    Ups[0, 1] = 0.5                         # breaks the symmetry of row 0
    res = population_gradient(torch.zeros(24, inst.F, dtype=DTYPE), Ups, inst)
    assert res.method == "monte-carlo" and "row 0" in res.reason and res.error_bound == math.inf


def test_interval_z_law_falls_back():
    inst = balanced(8, z=ZLaw(interval=(0.5, 1.5)))
    res = population_gradient(torch.zeros(8, inst.F, dtype=DTYPE), torch.zeros(8, 8, dtype=DTYPE), inst)
    assert res.method == "monte-carlo" and "interval" in res.reason


@pytest.mark.parametrize("true_model,planted", [("fixed", "bernoulli"), ("bernoulli", "fixed")])
def test_planted_wrong_count_law_disagrees_with_enumeration(monkeypatch, true_model, planted):
    inst = balanced(8, gamma=0.4, mask_model=true_model)
    Phi, Ups = symmetric_points(inst)[-1]
    honest = population_gradient(Phi, Ups, inst)
    assert gap(honest, brute_force(Phi, Ups, inst)) <= AGREE.atol
    monkeypatch.setattr(population, "mask_law", lambda kind, gamma, P: MaskLaw(planted, gamma, P))
    wrong = population_gradient(Phi, Ups, inst)
    assert wrong.method == "sufficient-statistics"
    assert gap(wrong, brute_force(Phi, Ups, inst)) > PLANTED


@pytest.mark.parametrize("tail", [population_laws.TAIL_MASS, 1e-4])
def test_truncation_error_is_within_its_recorded_bound(monkeypatch, tail):
    """Left-out binomial tails move L and the gradient by at most the recorded bound, also when a
    (planted) coarse truncation leaves out a visible amount of probability."""
    inst = balanced(160, K=1, N=2)
    Phi, Ups = torch.zeros(160, inst.F, dtype=DTYPE), torch.zeros(160, 160, dtype=DTYPE)
    Phi[torch.arange(160), inst.feature_of[0]] = 0.7
    monkeypatch.setattr(population_laws, "TAIL_MASS", 0.0)
    exact = population_gradient(Phi, Ups, inst)
    assert exact.error_bound == 0.0
    monkeypatch.setattr(population_laws, "TAIL_MASS", tail)
    cut = population_gradient(Phi, Ups, inst)
    assert cut.method == "sufficient-statistics" and 0 < cut.neglected_probability <= 2 * tail
    err = gap(cut, (exact.loss, exact.gPhi, exact.gUps))
    assert err <= cut.error_bound + 1e4 * EPS * abs(float(exact.loss))
    if tail > 1e-6:
        assert err > 1e-9                   # the coarse cut is visible, so the bound was really tested


def test_trainer_population_mode_matches_exact_gd_and_records_its_method():
    inst = balanced(8)
    common = dict(steps=15, eta=2.0, log_every=5)
    pop = train(inst, TrainConfig(gradient="population", **common))
    ref = train(inst, TrainConfig(gradient="exact", **common))
    assert np.abs(pop.loss - ref.loss).max() <= AGREE.atol
    assert np.abs(pop.ups - ref.ups).max() <= AGREE.atol
    assert pop.meta["population"]["methods"] == {"sufficient-statistics": ""}
    fallback = train(fixture_6(), TrainConfig(gradient="population", **common))
    assert list(fallback.meta["population"]["methods"]) == ["enumeration"]
    with pytest.raises(UsageError, match="coords"):
        TrainConfig(gradient="population", parametrisation="full")


def logits(Phi, Ups, inst, batch):
    """(B, P, P) logits s_{p->q} = z_j Phi 1{q in U} + Ups (SPEC DEF-CORR), brute force per event."""
    feat = inst.feature_of[batch.cluster]
    zq = batch.z.gather(1, inst.area_of[batch.cluster]) * (~batch.mask)
    return Phi[:, feat].permute(1, 0, 2) * zq.unsqueeze(1) + Ups


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_max_logit_step_is_the_largest_logit_change_over_every_event(key_set):
    inst = fixture_6(key_set=key_set)
    traj = train(inst, TrainConfig(steps=1, eta=3.0, log_every=1))
    (P0, U0), (P1, U1) = coords_at(traj, 0), coords_at(traj, 1)
    batch = exact_batch(inst)
    keys = torch.ones_like(batch.mask) if key_set == "B" else ~batch.mask
    live = batch.mask.unsqueeze(2) & keys.unsqueeze(1)                     # masked query p, key q in S
    delta = (logits(P1, U1, inst, batch) - logits(P0, U0, inst, batch)).abs() * live
    assert math.isclose(traj.meta["max_logit_step"], float(delta.max()), rel_tol=1e-12)
    # the FP part alone, where the z values of the keys decide the answer
    fp_only = (logits(P1, U0, inst, batch) - logits(P0, U0, inst, batch)).abs() * live
    assert math.isclose(logit_step(P1 - P0, torch.zeros_like(U0), inst), float(fp_only.max()), rel_tol=1e-12)


@pytest.mark.parametrize("key_set,mask_model,normalisation",
                         [("B", "bernoulli", "none"), ("A", "fixed", "P"), ("B", "fixed", "M"), ("A", "bernoulli", "M")])
def test_population_measures_equal_enumeration(key_set, mask_model, normalisation):
    """THM-MAIN-v1's fraction and loss gap, LEM-G11's unavoidable part and the conditional masses, by count
    vectors against measures.py on the exact batch (every event enumerated, written independently)."""
    from proofcheck.setting import measures as th
    from proofcheck.setting.coords import area_mass, loss_split
    from proofcheck.setting.population import population_measures
    inst = balanced(8, gamma=0.4, key_set=key_set, mask_model=mask_model, normalisation=normalisation)
    Phi, Ups = symmetric_points(inst, steps=4, eta=20.0)[-1]
    batch = exact_batch(inst)
    for eps in (0.5, 0.2):
        m = population_measures(Phi, Ups, inst, eps)
        avoid, lost = loss_split(Phi, Ups, inst, batch)
        assert abs(m.fraction - th.target_mass_fraction(Phi, Ups, inst, batch, eps).value) <= AGREE.atol
        assert abs(m.gap - float(avoid)) <= AGREE.atol and abs(m.unavoidable - float(lost)) <= AGREE.atol
        assert float((m.mass - area_mass(Phi, Ups, inst, batch)).abs().max()) <= AGREE.atol
        ref = th.conditional_area_mass(Phi, Ups, inst, batch)
        assert torch.equal(ref.isnan(), m.avoidable_mass.isnan())
        assert float((m.avoidable_mass - ref).nan_to_num().abs().max()) <= AGREE.atol
    assert 0.0 < m.fraction < 1.0                                           # a point where the fraction is not trivial


def test_population_measures_planted_wrong_threshold_differs():
    """A fraction counted at 1 - 2 eps instead of 1 - eps is caught by the same comparison."""
    from proofcheck.setting import measures as th
    from proofcheck.setting.population import population_measures
    inst = balanced(8, gamma=0.4)
    Phi, Ups = symmetric_points(inst, steps=4, eta=20.0)[-1]
    wrong = population_measures(Phi, Ups, inst, 0.4).fraction
    assert abs(wrong - th.target_mass_fraction(Phi, Ups, inst, exact_batch(inst), 0.2).value) > PLANTED
