"""The attention-diversity metrics (SPEC §10 EXP-1 [R]) on hand-made attention patterns, with expected
values worked out by hand, by enumeration of the masks, or from the closed form of the ideal pattern."""
import itertools
import math

import pytest
import torch

from proofcheck.errors import UsageError
from proofcheck.setting.diversity import (DISSIMILARITIES, ideal_diversity, iou_distance, jensen_shannon,
                                          pairwise_diversity, references, top_mass_sets, total_variation)
from proofcheck.setting.instance import DTYPE, balanced, fixture_6, global_local, make_instance
from proofcheck.setting.measures import area_wide_attention, avoidable, collapsed_attention
from proofcheck.setting.sampling import Batch, exact_batch

T = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731


def test_jensen_shannon_by_hand():
    assert float(jensen_shannon(T(1, 0), T(0, 1))) == pytest.approx(1.0, abs=1e-15)
    assert float(jensen_shannon(T(0.2, 0.8), T(0.2, 0.8))) == pytest.approx(0.0, abs=1e-15)
    # m = (0.75, 0.25): KL((1,0)||m) = log2(4/3); KL((.5,.5)||m) = .5 log2(2/3) + .5 log2(2)
    by_hand = 0.5 * math.log2(4 / 3) + 0.5 * (0.5 * math.log2(2 / 3) + 0.5)
    assert float(jensen_shannon(T(1, 0), T(0.5, 0.5))) == pytest.approx(by_hand, rel=1e-12)
    assert float(total_variation(T(1, 0), T(0.5, 0.5))) == pytest.approx(0.5, abs=1e-15)


def test_top_mass_sets_take_the_fewest_keys_and_keep_ties():
    a = T(0.2, 0.5, 0.3)
    assert top_mass_sets(a, 0.5).tolist() == [False, True, False]
    assert top_mass_sets(a, 0.6).tolist() == [False, True, True]
    assert top_mass_sets(a, 1.0).tolist() == [True, True, True]
    # uniform over three keys: two would carry 2/3 >= 0.5, but the third is tied with them
    assert top_mass_sets(T(1 / 3, 1 / 3, 1 / 3, 0), 0.5).tolist() == [True, True, True, False]
    assert float(iou_distance(torch.tensor([True, True, False]), torch.tensor([False, True, True]))) == \
        pytest.approx(1 - 1 / 3)
    with pytest.raises(UsageError, match="top_mass"):
        top_mass_sets(a, 0.0)


def one_image(dist):
    return Batch(torch.zeros(1, dtype=torch.long), torch.ones(1, 1, dtype=torch.float64),
                 torch.ones(1, dist.shape[1], dtype=torch.bool), torch.ones(1, dtype=torch.float64), exact=True)


@pytest.mark.parametrize("metric", DISSIMILARITIES)
def test_three_queries_two_alike(metric):
    # queries 0 and 1 attend alike, query 2 elsewhere: 4 of the 6 ordered pairs are at distance 1
    dist = torch.tensor([[[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]]], dtype=torch.float64)
    q = torch.ones(1, 3, dtype=torch.bool)
    assert pairwise_diversity(dist, q, one_image(dist), metric).value == pytest.approx(4 / 6, abs=1e-12)
    # a query left out of the scored set does not count
    q[0, 2] = False
    assert pairwise_diversity(dist, q, one_image(dist), metric).value == pytest.approx(0.0, abs=1e-12)


def test_metrics_tell_apart_what_tv_does_not():
    # a query spreading 1/2 over a second area: JS and TV see it, 1 - IoU of the top half does not
    dist = torch.tensor([[[1.0, 0, 0], [0.5, 0.5, 0]]], dtype=torch.float64)
    q = torch.ones(1, 2, dtype=torch.bool)
    b = one_image(dist)
    assert pairwise_diversity(dist, q, b, "tv").value == pytest.approx(0.5)
    assert pairwise_diversity(dist, q, b, "js").value == pytest.approx(0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25)
    assert pairwise_diversity(dist, q, b, "iou", top_mass=0.5).value == pytest.approx(0.5)   # {0} vs {0, 1}
    with pytest.raises(UsageError, match="diversity metric"):
        pairwise_diversity(dist, q, b, "kl")


@pytest.mark.parametrize("metric", DISSIMILARITIES)
@pytest.mark.parametrize("make", [fixture_6, lambda: global_local(8)], ids=["fixture-6", "global-local-P8"])
def test_references_collapsed_zero_area_wide_ideal(metric, make):
    inst = make()
    ref = references(inst, exact_batch(inst), metric)
    assert ref["collapsed"] == pytest.approx(0.0, abs=1e-12)
    assert ref["area_wide"] == pytest.approx(ideal_diversity(inst), rel=1e-12)


def test_a_planted_wrong_reference_is_told_apart():
    # the collapsed pattern must not score like the area-wide one (it would if the metric ignored queries)
    inst = fixture_6()
    ref = references(inst, exact_batch(inst), "js")
    assert ref["area_wide"] - ref["collapsed"] > 0.5


def test_attention_diversity_on_hand_made_patterns():
    inst = make_instance(3, [[[0], [1], [2]]], gamma=0.5)
    batch = exact_batch(inst).select([0])
    q = torch.tensor([[True, True, True]])
    disjoint = torch.eye(3, dtype=DTYPE).unsqueeze(0)
    assert pairwise_diversity(disjoint, q, batch, "tv").value == pytest.approx(1.0)
    same = torch.full((1, 3, 3), 1 / 3, dtype=DTYPE)
    assert pairwise_diversity(same, q, batch, "tv").value == pytest.approx(0.0)
    half = torch.tensor([[[1, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0]]], dtype=DTYPE)
    # pairs: (0,1) TV 0.5, (0,2) 0.5, (1,2) 0 -> mean over ordered pairs 1/3
    assert pairwise_diversity(half, q, batch, "tv").value == pytest.approx(1 / 3)


def brute_ideal_diversity(inst):
    """Enumerate masks: over ordered pairs of distinct avoidable masked queries, the share in different areas."""
    num = den = 0.0
    for c in inst.clusters:
        for bits in itertools.product([0, 1], repeat=inst.P):
            prob = math.prod(inst.gamma if m else 1 - inst.gamma for m in bits)
            area = {p: next(j for j, a in enumerate(c.areas) if p in a) for p in range(inst.P)}
            ok = [p for p in range(inst.P) if bits[p] and any(not bits[q] for q in c.areas[area[p]])]
            for p, r in itertools.permutations(ok, 2):
                den += c.weight * prob
                num += c.weight * prob * (area[p] != area[r])
    return num / den


@pytest.mark.parametrize("inst", [fixture_6(), balanced(8, N=4), make_instance(5, [[[0, 1, 2], [3], [4]]], gamma=0.3)])
def test_ideal_diversity_closed_form_matches_enumeration(inst):
    want = brute_ideal_diversity(inst)
    assert ideal_diversity(inst) == pytest.approx(want, rel=1e-12)
    batch = exact_batch(inst)
    scored = pairwise_diversity(area_wide_attention(inst, batch), avoidable(inst, batch), batch, "tv").value
    assert scored == pytest.approx(want, rel=1e-12)
    if math.floor(inst.gamma * inst.P) >= 2:      # a fixed-size mask with at least one pair of queries
        fixed = inst.with_options(mask_model="fixed")
        assert 0 < ideal_diversity(fixed) <= 1


def test_collapsed_pattern_scores_zero_and_rows_are_distributions():
    inst = fixture_6()
    batch = exact_batch(inst)
    attn = collapsed_attention(inst, batch)
    assert torch.allclose(attn.sum(-1), torch.ones(len(batch), inst.P, dtype=DTYPE))
    assert pairwise_diversity(attn, avoidable(inst, batch), batch, "tv").value == pytest.approx(0.0, abs=1e-15)
