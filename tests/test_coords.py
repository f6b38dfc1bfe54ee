"""Correlation coordinates (SPEC DEF-CORR, LEM-G2): readouts, the inverse map,
the loss and gradients in coordinates against the full model and against the
independent loop evaluation, area masses, and the loss split of LEM-G11."""
import numpy as np
import pytest
import torch

from proofcheck.setting import coords
from proofcheck.setting import model
from proofcheck.setting.instance import DTYPE, fixture_6, make_instance, ZLaw
from proofcheck.setting.sampling import exact_batch, sample_batch
from spec_reference import reference

ATOL = 1e-12   # float64 sums over ~10^3 O(1) terms


def point(inst, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(inst.P, inst.F, dtype=DTYPE, generator=g),
            scale * torch.randn(inst.P, inst.P, dtype=DTYPE, generator=g))


VARIANTS = [dict(key_set=ks, normalisation=nm, basis=bs) for ks in ("B", "A") for nm in ("none", "M")
            for bs in ("aligned", "rotated")]


def vid(o):
    return "-".join(o.values())


@pytest.mark.parametrize("basis", ["aligned", "rotated"])
def test_readouts_and_q_from_coords_are_inverse_on_the_span(basis):
    inst = fixture_6(basis=basis, rotation_seed=3)
    Phi, Ups = point(inst, 0)
    Q = coords.q_from_coords(Phi, Ups, inst)
    assert torch.allclose(coords.fp_correlation(Q, inst), Phi, atol=ATOL)
    assert torch.allclose(coords.pp_correlation(Q, inst), Ups, atol=ATOL)
    # readouts are e_p^T Q v and e_p^T Q e_q, entry by entry (DEF-CORR)
    E, V = inst.E, inst.V
    Qr = torch.randn(inst.d, inst.d, dtype=DTYPE, generator=torch.Generator().manual_seed(1))
    assert float(coords.fp_correlation(Qr, inst)[4, 2]) == pytest.approx(float(E[:, 4] @ Qr @ V[:, 2]), abs=ATOL)
    assert float(coords.pp_correlation(Qr, inst)[1, 5]) == pytest.approx(float(E[:, 1] @ Qr @ E[:, 5]), abs=ATOL)
    assert coords.off_span_fraction(Q, inst) < 1e-14
    assert coords.off_span_fraction(torch.zeros_like(Q), inst) == 0.0
    # a generic Q has mass outside the span: (d^2 - P(P+F)) of d^2 directions, 121 - 66 here
    frac = coords.off_span_fraction(Qr, inst)
    assert 0.5 < frac < 0.9
    back = coords.q_from_coords(coords.fp_correlation(Qr, inst), coords.pp_correlation(Qr, inst), inst)
    assert torch.allclose(coords.fp_correlation(back, inst), coords.fp_correlation(Qr, inst), atol=ATOL)


@pytest.mark.parametrize("opts", VARIANTS, ids=vid)
def test_coordinate_loss_and_gradients_match_the_full_model(opts):
    inst = fixture_6(rotation_seed=7, **opts)
    batch = exact_batch(inst)
    Phi, Ups = point(inst, 5, scale=1.5)
    Q = coords.q_from_coords(Phi, Ups, inst).requires_grad_(True)
    full_loss = model.forward_loss(Q, inst, batch)
    (gQ,) = torch.autograd.grad(full_loss, Q)
    for grad_fn in (coords.grad_coords, coords.grad_coords_closed_form):
        loss, gPhi, gUps = grad_fn(Phi, Ups, inst, batch)
        assert abs(float(loss) - float(full_loss.detach())) < ATOL, grad_fn.__name__
        assert torch.allclose(gPhi, coords.fp_correlation(gQ, inst), atol=ATOL), grad_fn.__name__
        assert torch.allclose(gUps, coords.pp_correlation(gQ, inst), atol=ATOL), grad_fn.__name__
    assert torch.allclose(coords.attention_coords(Phi, Ups, inst, batch), model.attention(Q.detach(), inst, batch),
                          atol=ATOL)


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_closed_form_gradient_matches_independent_lem_g4_g8(key_set):
    inst = fixture_6(key_set=key_set)
    Phi, Ups = point(inst, 8, scale=2.0)
    ref = reference(inst, coords.q_from_coords(Phi, Ups, inst).numpy())
    loss, gPhi, gUps = coords.grad_coords_closed_form(Phi, Ups, inst, exact_batch(inst))
    assert abs(float(loss) - ref.loss) < ATOL
    assert np.abs(gPhi.numpy() - ref.grad_phi).max() < ATOL
    assert np.abs(gUps.numpy() - ref.grad_ups).max() < ATOL


def test_closed_form_gradient_on_a_sampled_batch_with_uneven_areas_and_interval_z():
    """Monte Carlo batch, areas of different counts per cluster (padding), an
    interval z law: closed form vs autograd in coordinates."""
    inst = make_instance(9, [[[0, 1, 2, 3], [4, 5, 6, 7, 8]], [[0, 4], [1, 5], [2, 6], [3, 7, 8]]],
                         weights=[0.45, 0.55], z=ZLaw(interval=(0.4, 1.8)), gamma=0.6, key_set="A")
    batch = sample_batch(inst, 3000, torch.Generator().manual_seed(2))
    Phi, Ups = point(inst, 3, scale=2.0)
    l1, p1, u1 = coords.grad_coords(Phi, Ups, inst, batch)
    l2, p2, u2 = coords.grad_coords_closed_form(Phi, Ups, inst, batch)
    assert abs(float(l1 - l2)) < ATOL
    assert torch.allclose(p1, p2, atol=ATOL) and torch.allclose(u1, u2, atol=ATOL)
    assert p1.abs().max() > 1e-3


def test_extreme_pp_correlations_fall_back_to_the_explicit_path():
    """Beyond FAST_UPS_SPREAD the regrouped softmax would underflow; the answer
    must still equal the explicit (B, P, P) evaluation."""
    inst = fixture_6()
    batch = exact_batch(inst)
    Phi, Ups = point(inst, 4)
    Ups = Ups.clone()
    Ups[:, 0] -= 900.0
    Phi = Phi.clone()
    Phi[0, :] += 400.0
    assert not coords.fast_path_ok(Ups)
    ev = coords.events(Phi, Ups, inst, batch)
    A, A0 = coords.area_masses(Phi, Ups, inst, batch)
    assert torch.equal(A, ev.A) and torch.equal(A0, ev.A0)
    l1, p1, u1 = coords.grad_coords(Phi, Ups, inst, batch)
    l2, p2, u2 = coords.grad_coords_closed_form(Phi, Ups, inst, batch)
    assert torch.isfinite(p2).all() and torch.allclose(p1, p2, atol=ATOL) and torch.allclose(u1, u2, atol=ATOL)


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_area_masses_sum_to_one_with_a0_and_match_attention(key_set):
    inst = fixture_6(key_set=key_set)
    batch = exact_batch(inst)
    Phi, Ups = point(inst, 6, scale=2.0)
    ev = coords.events(Phi, Ups, inst, batch)
    has_key = (ev.attn.sum(-1) > 0)
    total = ev.A.sum(-1) + ev.A0
    assert torch.allclose(total[has_key], torch.ones_like(total[has_key]), atol=1e-14)
    if key_set == "A":
        assert torch.equal(ev.A0, torch.zeros_like(ev.A0))
        # no key only when nothing is visible
        assert torch.equal(~has_key.any(1), batch.mask.all(1))
    else:
        assert has_key.all()
    # A_{p,j} = sum over unmasked q of area j of attn_{p->q}, from its definition
    b, p = 17, 2
    k = int(batch.cluster[b])
    for j, area in enumerate(inst.clusters[k].areas):
        want = sum(float(ev.attn[b, p, q]) for q in area if not batch.mask[b, q])
        assert float(ev.A[b, p, j]) == pytest.approx(want, abs=1e-15)
    A, A0 = coords.area_masses(Phi, Ups, inst, batch)
    assert torch.allclose(A, ev.A, atol=1e-14) and torch.allclose(A0, ev.A0, atol=1e-14)


def test_residual_terms_follow_def_corr():
    inst = fixture_6()
    batch = exact_batch(inst)
    Phi, Ups = point(inst, 2)
    ev = coords.events(Phi, Ups, inst, batch)
    b, p = 101, 4
    k = int(batch.cluster[b])
    a = int(inst.area_of[k, p])
    z = batch.z[b].tolist()
    A = ev.A[b, p].tolist()
    n = len(inst.clusters[k].areas)
    r2 = z[a] ** 2 * (1 - A[a]) ** 2 + sum(z[i] ** 2 * A[i] ** 2 for i in range(n) if i != a)
    R = sum(z[i] ** 2 * A[i] ** 2 for i in range(n)) - z[a] ** 2 * A[a]
    assert float(ev.r2[b, p]) == pytest.approx(r2, abs=1e-14)
    assert float(ev.R[b, p]) == pytest.approx(R, abs=1e-14)


def test_area_mass_and_target_mass_are_conditional_means():
    inst = fixture_6()
    batch = exact_batch(inst)
    Phi, Ups = point(inst, 1)
    mass = coords.area_mass(Phi, Ups, inst, batch)
    ev = coords.events(Phi, Ups, inst, batch)
    p, k, j = 3, 1, 2                  # feature v_{2,3}
    f = inst.feature_index(k, j)
    sel = (batch.cluster == k) & batch.mask[:, p]
    want = float((batch.weight[sel] * ev.A[sel, p, j]).sum() / batch.weight[sel].sum())
    assert float(mass[p, f]) == pytest.approx(want, abs=1e-14)
    tm = coords.target_mass(Phi, Ups, inst, batch)
    assert float(tm[p, k]) == pytest.approx(float(mass[p, inst.feature_of[k, p]]), abs=0)
    # at Q = 0 (LEM-G10, variant B) E[A_{p,a} | p in M] = E[u_a]/P = (C_a - 1)(1 - gamma)/P
    zero = coords.area_mass(torch.zeros_like(Phi), torch.zeros_like(Ups), inst, batch)
    C = len(inst.clusters[0].areas[0])
    assert float(zero[0, 0]) == pytest.approx((C - 1) * (1 - inst.gamma) / inst.P, abs=1e-14)


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_loss_split_sums_to_the_loss_and_its_avoidable_part_vanishes(key_set):
    """LEM-G11: as the target FP correlations grow (the rest fixed) the avoidable
    part tends to 0 and the loss to the unavoidable part L_infinity."""
    inst = fixture_6(key_set=key_set)
    batch = exact_batch(inst)
    Phi, Ups = point(inst, 9, scale=0.5)
    target = torch.zeros_like(Phi, dtype=torch.bool)
    for k in range(inst.K):
        target[torch.arange(inst.P), inst.feature_of[k]] = True
    avoidable = []
    for t in (0.0, 5.0, 10.0, 20.0, 40.0):
        Phi_t = torch.where(target, Phi + t, Phi)
        av, un = coords.loss_split(Phi_t, Ups, inst, batch)
        assert float(av + un) == pytest.approx(float(coords.loss_coords(Phi_t, Ups, inst, batch)), abs=ATOL)
        avoidable.append(float(av))
    assert all(x > y for x, y in zip(avoidable, avoidable[1:]))
    assert avoidable[-1] < 1e-9 * avoidable[0]
    # L_infinity from its definition: a masked p whose own area is all masked is predicted from
    # everything else; with Q -> target-only its loss stays, so the unavoidable part is positive
    assert float(un) > 0
    lost = coords.unavoidable(inst, batch)
    for b in (0, 5, 300):
        k = int(batch.cluster[b])
        for p in range(inst.P):
            area = inst.clusters[k].areas[int(inst.area_of[k, p])]
            assert bool(lost[b, p]) == (bool(batch.mask[b, p]) and all(bool(batch.mask[b, q]) for q in area))
