"""The full d x d model (SPEC DEF-MODEL, DEF-LOSS-MAE) against an independent
loop evaluation of SPEC's formulas (tests/spec_reference.py), on the SPEC §11
fixture: loss and autograd gradient to 1e-12 (LEM-G1), and in coordinates
LEM-G4 / LEM-G8, in both key-set variants and all three normalisations."""
import math

import numpy as np
import pytest
import torch

from proofcheck.setting import model
from proofcheck.setting.coords import fp_correlation, pp_correlation, q_from_coords
from proofcheck.setting.instance import DTYPE, fixture_6, make_instance, ZLaw
from proofcheck.setting.sampling import Batch, exact_batch, sample_batch
from spec_reference import reference

# Double-precision sums over ~10^3 events of O(1) terms: rounding ~1e-16 * 10^3.
ATOL = 1e-12


def random_q(inst, seed, scale=0.7):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(inst.d, inst.d, dtype=DTYPE, generator=g)


def span_q(inst, seed, scale=1.0):
    """Q in the span of LEM-G2, as SPEC §11 prescribes for the fixture."""
    g = torch.Generator().manual_seed(seed)
    Phi = scale * torch.randn(inst.P, inst.F, dtype=DTYPE, generator=g)
    Ups = scale * torch.randn(inst.P, inst.P, dtype=DTYPE, generator=g)
    return q_from_coords(Phi, Ups, inst)


def autograd_loss_and_grad(inst, Q):
    Q = Q.clone().requires_grad_(True)
    loss = model.forward_loss(Q, inst, exact_batch(inst))
    (g,) = torch.autograd.grad(loss, Q)
    return float(loss.detach()), g


OPTIONS = [dict(key_set=ks, normalisation=nm) for ks in ("B", "A") for nm in ("none", "P", "M")]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: f"{o['key_set']}-{o['normalisation']}")
def test_loss_and_lem_g1_gradient_match_independent_evaluation(opts):
    inst = fixture_6(**opts)
    Q = random_q(inst, seed=3)           # LEM-G1 holds for every Q, not only span Q
    ref = reference(inst, Q.numpy())
    loss, g = autograd_loss_and_grad(inst, Q)
    assert ref.n_events == len(exact_batch(inst))
    assert abs(loss - ref.loss) < ATOL, (loss, ref.loss)
    assert np.abs(g.numpy() - ref.grad_q).max() < ATOL
    # the comparison has power: gradient entries are O(1e-2), far above the tolerance
    assert np.abs(ref.grad_q).max() > 1e-3


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: f"{o['key_set']}-{o['normalisation']}")
def test_lem_g4_g8_coordinate_gradients_match_autograd(opts):
    inst = fixture_6(basis="rotated", rotation_seed=5, **opts)
    Q = span_q(inst, seed=11)
    ref = reference(inst, Q.numpy())
    _, g = autograd_loss_and_grad(inst, Q)
    # LEM-G2: orthonormal rank-one directions, so dL/dPhi = e_p^T grad v, dL/dUps = e_p^T grad e_q
    assert np.abs(fp_correlation(g, inst).numpy() - ref.grad_phi).max() < ATOL
    assert np.abs(pp_correlation(g, inst).numpy() - ref.grad_ups).max() < ATOL
    # LEM-G2: the gradient has no mass outside the span
    back = q_from_coords(fp_correlation(g, inst), pp_correlation(g, inst), inst)
    assert torch.linalg.norm(g - back) < ATOL


WRONG_G4 = {
    "R_p dropped": lambda zj, delta, Aj, R: zj**2 * (delta - Aj),
    "sign of R_p flipped": lambda zj, delta, Aj, R: zj**2 * (delta - Aj) - R,
    "z_j^2 -> z_j": lambda zj, delta, Aj, R: zj * (delta - Aj) + R,
    "delta dropped": lambda zj, delta, Aj, R: -(zj**2) * Aj + R,
}


@pytest.mark.parametrize("name", sorted(WRONG_G4))
def test_wrong_lem_g4_is_rejected_by_the_same_comparison(name):
    """A mutated LEM-G4 misses autograd far beyond the tolerance, so the
    agreement above is evidence, not a tautology."""
    inst = fixture_6()
    Q = span_q(inst, seed=2)
    _, g = autograd_loss_and_grad(inst, Q)
    wrong = reference(inst, Q.numpy(), g4_inner=WRONG_G4[name])
    assert np.abs(fp_correlation(g, inst).numpy() - wrong.grad_phi).max() > 1e-4


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_exact_and_monte_carlo_loss_agree_within_four_standard_errors(key_set):
    inst = fixture_6(key_set=key_set)
    Q = span_q(inst, seed=4)
    exact = float(model.forward_loss(Q, inst, exact_batch(inst)))
    batch = sample_batch(inst, 20_000, torch.Generator().manual_seed(123))
    per_event = model.event_losses(Q, inst, batch)
    mc = float((per_event * batch.weight).sum())
    se = model.standard_error(per_event, batch)
    assert 0 < se < 0.05 * exact
    assert abs(mc - exact) < 4 * se, (mc, exact, se)
    # and a wrong expectation (the loss of another Q) is rejected by the same test
    other = float(model.forward_loss(2 * Q, inst, exact_batch(inst)))
    assert abs(mc - other) > 4 * se


def test_standard_error_is_zero_for_exact_batches_and_matches_formula():
    inst = fixture_6()
    batch = sample_batch(inst, 500, torch.Generator().manual_seed(0))
    vals = torch.arange(500, dtype=DTYPE)
    expected = math.sqrt(sum((v - 249.5) ** 2 for v in range(500)) / 499) / math.sqrt(500)
    assert model.standard_error(vals, batch) == pytest.approx(expected, rel=1e-12)
    assert model.standard_error(vals[:1], batch.select(slice(0, 1))) == math.inf
    assert model.standard_error(vals, exact_batch(inst).select(slice(0, 500))) == 0.0


def test_variant_a_with_no_visible_patch_predicts_zero():
    """DEF-LOSS-MAE: in variant A with U empty, F_p = 0, so the event loss is
    1/2 sum_p z_{a(p)}^2 ||v||^2, a Q-independent constant."""
    inst = fixture_6(key_set="A")
    batch = Batch(cluster=torch.tensor([0, 1]), z=torch.tensor([[0.5, 1.5, 1.0], [1.5, 0.5, 1.5]], dtype=DTYPE),
                  mask=torch.ones(2, 6, dtype=torch.bool), weight=torch.tensor([0.5, 0.5], dtype=DTYPE), exact=False)
    Q = random_q(inst, seed=9, scale=3.0)
    F = model.reconstruct(Q, inst, batch)
    assert torch.equal(F, torch.zeros_like(F))
    expected = [0.5 * (3 * 0.5**2 + 3 * 1.5**2), 0.5 * 2 * (1.5**2 + 0.5**2 + 1.5**2)]
    assert torch.allclose(model.event_losses(Q, inst, batch), torch.tensor(expected, dtype=DTYPE), atol=1e-15)
    Qg = Q.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model.forward_loss(Qg, inst, batch), Qg)
    assert torch.equal(g, torch.zeros_like(g))


def test_masked_query_carries_only_its_position():
    """DEF-MASK: a masked query's token is e_p, so its attention does not change
    when Q acts on content directions only from the left (rows outside the e_p)."""
    inst = fixture_6()
    batch = exact_batch(inst)
    Q = random_q(inst, seed=1)
    bump = torch.zeros_like(Q)
    bump[inst.P:, :] = 5.0        # rows v^T Q: never multiplied by a query e_p
    assert torch.allclose(model.attention(Q, inst, batch), model.attention(Q + bump, inst, batch), atol=1e-15)


def test_normalisation_factors():
    inst = fixture_6(normalisation="M")
    batch = exact_batch(inst)
    m = batch.mask.sum(1)
    n = model.normaliser(inst, batch)
    assert torch.equal(n[m == 0], torch.zeros_like(n[m == 0]))
    assert torch.allclose(n[m > 0] * m[m > 0], torch.ones_like(n[m > 0]), atol=1e-15)
    assert torch.equal(model.normaliser(fixture_6(normalisation="P"), batch), torch.full_like(n, 1 / 6))


def test_nonuniform_z_law_and_fixed_masks_match_reference():
    inst = make_instance(4, [[[0, 1], [2, 3]], [[0, 2], [1], [3]]], weights=[0.6, 0.4],
                         z=ZLaw(values=(0.5, 1.0, 2.0), probs=(0.2, 0.5, 0.3)), gamma=0.5, mask_model="fixed")
    Q = random_q(inst, seed=6)
    ref = reference(inst, Q.numpy())
    loss, g = autograd_loss_and_grad(inst, Q)
    assert abs(loss - ref.loss) < ATOL
    assert np.abs(g.numpy() - ref.grad_q).max() < ATOL
