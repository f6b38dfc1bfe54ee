"""The assumption library: strategies satisfy, violations violate just one."""
import math

import pytest
import torch
from hypothesis import given, settings

from proofcheck.lang.assumptions import LIBRARY, OffSpanCase, by_name, case_from_dict, case_q, local_mass_ratio, satisfying, violating
from proofcheck.setting.symmetry import automorphisms
from proofcheck.lang.cases import Case
from proofcheck.setting.coords import q_from_coords
from proofcheck.errors import UsageError
from proofcheck.setting.instance import Cluster, Instance, ZLaw, fixture_6

BASE = by_name("z_positive", "orthonormal", "gamma_interior", "span_point")


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_strategy_draws_cases_that_satisfy_the_assumption(name):
    assumption = LIBRARY[name]

    @settings(max_examples=5)
    @given(assumption.strategy())
    def run(case):
        assert assumption.holds(case)

    run()


@pytest.mark.parametrize("name", sorted(n for n, a in LIBRARY.items() if a.violate is not None))
def test_violate_breaks_just_that_assumption(name):
    assumption = LIBRARY[name]
    others = [a for a in BASE if a.name != name]

    @settings(max_examples=5)
    @given(violating(assumption, others))
    def run(case):
        assert not assumption.holds(case)
        assert all(a.holds(case) for a in others), [a.name for a in others if not a.holds(case)]

    run()


def test_satisfying_a_list_draws_cases_satisfying_all():
    chosen = by_name("z_positive", "equal_areas", "zero_init")

    @settings(max_examples=5)
    @given(satisfying(chosen))
    def run(case):
        sizes = [{len(a) for a in c.areas} for c in case.instance.clusters]
        assert all(len(s) == 1 and min(s) >= 2 for s in sizes)
        assert case.instance.z_lower > 0
        assert not case.Phi.any() and not case.Ups.any()

    run()


def test_specific_violations():
    inst = fixture_6()
    case = Case(inst, torch.zeros(inst.P, inst.F, dtype=torch.float64), torch.zeros(inst.P, inst.P, dtype=torch.float64))
    neg = LIBRARY["z_positive"].violate(case)
    assert all(v < 0 for c in neg.instance.clusters for v in c.z[0].values)
    assert LIBRARY["gamma_interior"].violate(case).instance.gamma in (0.0, 1.0)
    assert LIBRARY["orthonormal"].violate(case).instance.skew > 0
    assert LIBRARY["zero_init"].violate(case).Phi.abs().max() > 0
    uneq = LIBRARY["equal_areas"].violate(case)
    assert [len(a) for a in uneq.instance.clusters[0].areas] == [2, 4]


def test_off_span_case_round_trips_and_is_orthogonal_to_the_span():
    inst = fixture_6(basis="rotated", d=13)
    g = torch.Generator().manual_seed(1)
    case = Case(inst, torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 6, generator=g, dtype=torch.float64))
    off = LIBRARY["span_point"].violate(case)
    assert isinstance(off, OffSpanCase) and not LIBRARY["span_point"].holds(off)
    # the added part has zero correlations: E^T Q_off [E V] = 0 (SPEC DEF-CORR)
    B = inst.basis_matrix
    assert torch.allclose(inst.E.T @ off.Q_off @ B, torch.zeros(6, 11, dtype=torch.float64), atol=1e-12)
    assert float(torch.linalg.norm(off.Q_off)) > 1
    back = case_from_dict(off.to_dict())
    assert torch.equal(case_q(back), case_q(off))
    assert torch.allclose(case_q(case), q_from_coords(case.Phi, case.Ups, inst))


def test_automorphisms_counted_by_hand():
    # one cluster, areas {0,1,2} and {3} with the same z law: pi permutes {0,1,2} and fixes 3
    law = ZLaw(values=(1.0,))
    inst = Instance(P=4, clusters=(Cluster(1.0, ((0, 1, 2), (3,)), (law, law)),), gamma=0.5)
    assert len(automorphisms(inst)) == math.factorial(3) - 1
    # a second cluster {0,1},{2,3} keeps only the swap of 0 and 1
    inst2 = Instance(P=4, clusters=(Cluster(0.5, ((0, 1, 2), (3,)), (law, law)),
                                    Cluster(0.5, ((0, 1), (2, 3)), (law, law))), gamma=0.5)
    assert [pi for pi, _ in automorphisms(inst2)] == [(1, 0, 2, 3)]
    # different z laws on equal areas: swapping the areas is not an automorphism
    inst3 = Instance(P=2, clusters=(Cluster(1.0, ((0,), (1,)), (law, ZLaw(values=(2.0,)))),), gamma=0.5)
    assert automorphisms(inst3) == []


def test_small_local_masses_ratio():
    law = ZLaw(values=(1.0,))
    inst = Instance(P=3, clusters=(Cluster(1.0, ((0, 1), (2,)), (law, law)),), gamma=0.5)
    Phi = torch.tensor([[10.0, 0.0]] * 3, dtype=torch.float64)
    case = Case(inst, Phi, torch.zeros(3, 3, dtype=torch.float64))
    # only query 2 is local; keys 0,1 carry z Phi = 10, key 2 is masked: A_1 / (A_1 + A_0) with e^10 weights
    # A_2 = 0 always (p = 2 is the only position of area 2 and is masked), so the ratio is 0
    assert local_mass_ratio(case) == 0.0
    assert LIBRARY["small_local_masses"].holds(case)


def test_unknown_assumption_name():
    with pytest.raises(UsageError, match="unknown assumption"):
        by_name("z_positve")


def test_unequal_areas_keeps_the_point_consistent():
    law = ZLaw(values=(1.0,))
    for areas in (((0,), (1,)), ((0, 1),), ((0, 1), (2, 3))):
        P = sum(len(a) for a in areas)
        inst = Instance(P=P, clusters=(Cluster(1.0, areas, (law,) * len(areas)),), gamma=0.5)
        case = Case(inst, torch.ones(P, inst.F, dtype=torch.float64), torch.zeros(P, P, dtype=torch.float64))
        out = LIBRARY["equal_areas"].violate(case)
        assert out.Phi.shape == (P, out.instance.F)
