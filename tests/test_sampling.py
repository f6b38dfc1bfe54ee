"""Events (SPEC DEF-DATA, DEF-MASK): the exact enumeration has the right law,
Monte Carlo batches are seeded and have the right marginals."""
import math

import pytest
import torch

from proofcheck.errors import InstanceError
from proofcheck.setting.instance import DTYPE, ZLaw, balanced, fixture_6, make_instance
from proofcheck.setting.sampling import MAX_EXACT_EVENTS, exact_batch, expectation_batch, random_masking, sample_batch


def skewed():
    """Unequal weights, a non-uniform three-point z law and unequal area counts."""
    return make_instance(5, [[[0, 1], [2, 3, 4]], [[0], [1, 2], [3, 4]]], weights=[0.35, 0.65],
                         z=ZLaw(values=(0.5, 1.0, 2.0), probs=(0.2, 0.5, 0.3)), gamma=0.3)


@pytest.mark.parametrize("make", [fixture_6, skewed, lambda: fixture_6(mask_model="fixed")])
def test_exact_weights_are_a_probability_law_with_the_right_marginals(make):
    inst = make()
    b = exact_batch(inst)
    assert b.exact and b.weight.dtype == DTYPE
    assert float(b.weight.sum()) == pytest.approx(1.0, abs=1e-14)
    assert (b.weight > 0).all()
    # cluster weights pi_k
    for k, c in enumerate(inst.clusters):
        assert float(b.weight[b.cluster == k].sum()) == pytest.approx(c.weight, abs=1e-14)
    # P(p masked) = gamma (Bernoulli) or floor(gamma P)/P (fixed size), for every p
    p_masked = (b.weight.unsqueeze(1) * b.mask).sum(0)
    want = inst.gamma if inst.mask_model == "bernoulli" else math.floor(inst.gamma * inst.P) / inst.P
    assert torch.allclose(p_masked, torch.full_like(p_masked, want), atol=1e-14)
    # z law of every area, and independence of z from the mask
    for k, c in enumerate(inst.clusters):
        in_k = b.cluster == k
        for j, law in enumerate(c.z):
            for v, pr in zip(law.values, law.probs):
                sel = in_k & (b.z[:, j] == v)
                assert float(b.weight[sel].sum()) == pytest.approx(c.weight * pr, abs=1e-14)
                both = sel & b.mask[:, 0]
                assert float(b.weight[both].sum()) == pytest.approx(c.weight * pr * want, abs=1e-14)
    # every event appears once
    rows = {(int(k), tuple(z.tolist()), tuple(m.tolist())) for k, z, m in zip(b.cluster, b.z, b.mask)}
    assert len(rows) == len(b)


def test_bernoulli_mask_probabilities_are_binomial():
    inst = fixture_6()
    b = exact_batch(inst)
    g = inst.gamma
    n = b.mask.sum(1)
    for m in range(7):
        assert float(b.weight[n == m].sum()) == pytest.approx(math.comb(6, m) * g**m * (1 - g) ** (6 - m), abs=1e-14)


def test_fixed_size_masks_have_exactly_floor_gamma_p_masked():
    inst = balanced(10, gamma=0.45, mask_model="fixed")
    m = math.floor(0.45 * 10)
    b = exact_batch(inst)
    assert (b.mask.sum(1) == m).all()
    assert len(b) == math.comb(10, m) * inst.K * 4
    sampled = random_masking(inst, 2000, torch.Generator().manual_seed(0))
    assert (sampled.sum(1) == m).all()
    # uniform over positions
    freq = sampled.to(DTYPE).mean(0)
    se = math.sqrt(0.4 * 0.6 / 2000)
    assert ((freq - m / 10).abs() < 5 * se).all()


def test_monte_carlo_is_seeded_and_reproducible():
    inst = skewed()
    a = sample_batch(inst, 300, torch.Generator().manual_seed(42))
    b = sample_batch(inst, 300, torch.Generator().manual_seed(42))
    c = sample_batch(inst, 300, torch.Generator().manual_seed(43))
    for f in ("cluster", "z", "mask", "weight"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert not torch.equal(a.mask, c.mask)
    assert not a.exact and torch.equal(a.weight, torch.full((300,), 1 / 300, dtype=DTYPE))
    assert torch.equal(expectation_batch(inst, 300).mask, sample_batch(inst, 300, torch.Generator().manual_seed(0)).mask)


def test_monte_carlo_marginals_within_five_standard_errors():
    inst = skewed()
    n = 40_000
    b = sample_batch(inst, n, torch.Generator().manual_seed(7))

    def close(freq, p):
        return abs(freq - p) < 5 * math.sqrt(p * (1 - p) / n)

    assert close(float((b.cluster == 1).to(DTYPE).mean()), 0.65)
    assert all(close(float(f), inst.gamma) for f in b.mask.to(DTYPE).mean(0))
    in2 = b.cluster == 1
    for v, pr in zip((0.5, 1.0, 2.0), (0.2, 0.5, 0.3)):
        freq = float((b.z[in2, 2] == v).to(DTYPE).mean())
        assert abs(freq - pr) < 5 * math.sqrt(pr * (1 - pr) / int(in2.sum()))
    # padding: cluster 1 has 2 areas, so its third z column is the padding value 1
    assert (b.z[~in2, 2] == 1.0).all()


def test_interval_z_law_samples_inside_its_interval():
    inst = make_instance(4, [[[0, 1], [2, 3]]], z=ZLaw(interval=(0.4, 1.6)))
    b = sample_batch(inst, 5000, torch.Generator().manual_seed(1))
    assert (b.z >= 0.4).all() and (b.z <= 1.6).all()
    assert abs(float(b.z.mean()) - 1.0) < 5 * math.sqrt(1.2**2 / 12 / 10_000)


def test_exact_enumeration_refuses_huge_or_infinite_instances():
    huge = balanced(24)
    with pytest.raises(InstanceError, match=r"exact enumeration of balanced-P24 needs \d+ events \(> 4000000\); "
                                            r"use Monte Carlo"):
        exact_batch(huge)
    assert 2**24 * 2 * 4 > MAX_EXACT_EVENTS
    with pytest.raises(InstanceError, match="exact expectation needs finite z laws"):
        exact_batch(make_instance(4, [[[0, 1], [2, 3]]], z=ZLaw(interval=(0.5, 1.0))))
    with pytest.raises(InstanceError, match="Monte Carlo sample size must be >= 1, got 0"):
        sample_batch(fixture_6(), 0, torch.Generator())
