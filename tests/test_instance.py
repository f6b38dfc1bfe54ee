"""Instances (SPEC DEF-DATA, ASM-DIM, DEF-MASK, §11, §12): the SPEC §11 fixture
exactly, presets that scale in P, and one precise message per invalid instance."""
import math
import re

import pytest
import torch

from proofcheck.errors import InstanceError
from proofcheck.setting.instance import DTYPE, Cluster, Instance, ZLaw, balanced, fixture_6, global_local, make_instance, preset


# -- SPEC §11 fixture ------------------------------------------------------------

def test_fixture_6_is_spec_section_11():
    inst = fixture_6()
    assert (inst.P, inst.K, inst.d, inst.F) == (6, 2, 11, 5)
    assert [c.weight for c in inst.clusters] == [0.3, 0.7]
    assert inst.clusters[0].areas == ((0, 1, 2), (3, 4, 5))
    assert inst.clusters[1].areas == ((0, 3), (1, 4), (2, 5))
    assert inst.gamma == 0.4
    for c in inst.clusters:
        for law in c.z:
            assert law.values == (0.5, 1.5) and law.probs == (0.5, 0.5)
    assert (inst.key_set, inst.mask_model, inst.normalisation) == ("B", "bernoulli", "none")
    # basis order e_0..e_5, v_{1,1}, v_{1,2}, v_{2,1}, v_{2,2}, v_{2,3}: standard basis vectors
    assert torch.equal(inst.basis_matrix, torch.eye(11, dtype=DTYPE))
    assert torch.equal(inst.E, torch.eye(11, dtype=DTYPE)[:, :6])
    assert torch.equal(inst.V, torch.eye(11, dtype=DTYPE)[:, 6:])
    assert [inst.feature_name(f) for f in range(5)] == ["v_{1,1}", "v_{1,2}", "v_{2,1}", "v_{2,2}", "v_{2,3}"]
    assert inst.area_of.tolist() == [[0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]]
    assert inst.feature_of.tolist() == [[0, 0, 0, 1, 1, 1], [2, 3, 4, 2, 3, 4]]
    assert inst.orthonormal and inst.name == "fixture-6"


def test_rotated_basis_is_orthonormal_and_seeded():
    a = fixture_6(basis="rotated", rotation_seed=4)
    B = a.basis_matrix
    assert torch.allclose(B.T @ B, torch.eye(11, dtype=DTYPE), atol=1e-13)
    assert not torch.allclose(B, torch.eye(11, dtype=DTYPE))
    assert torch.equal(B, fixture_6(basis="rotated", rotation_seed=4).basis_matrix)
    assert not torch.equal(B, fixture_6(basis="rotated", rotation_seed=5).basis_matrix)
    # a larger ambient space: still orthonormal columns
    big = fixture_6(basis="rotated", d=20)
    assert big.orthonormal and big.basis_matrix.shape == (20, 11)
    assert not fixture_6(skew=0.3).orthonormal


# -- presets --------------------------------------------------------------------

@pytest.mark.parametrize("P", [8, 16, 64, 256])
def test_balanced_preset_scales_in_p(P):
    inst = balanced(P, K=3, N=4)
    assert inst.P == P and inst.K == 3 and inst.N == (4, 4, 4) and inst.d == P + 12
    for c in inst.clusters:
        assert sorted(len(a) for a in c.areas) == [P // 4] * 4
        assert sorted(q for a in c.areas for q in a) == list(range(P))
    parts = {c.areas for c in inst.clusters}
    assert len(parts) == 3, "DEF-DATA item 2: clusters have different partitions"


@pytest.mark.parametrize("P", [16, 64, 256])
def test_global_local_preset_scales_in_p(P):
    kg, kl = 0.8, 0.4
    inst = global_local(P, K=2, kappa_g=kg, kappa_l=kl)
    c_l = round(P**kl)
    for c in inst.clusters:
        sizes = [len(a) for a in c.areas]
        assert sizes[1:] == [c_l] * (len(sizes) - 1)
        assert round(P**kg) <= sizes[0] < round(P**kg) + c_l     # the remainder joins the global area
        assert sorted(q for a in c.areas for q in a) == list(range(P))
    assert inst.clusters[0].areas != inst.clusters[1].areas


def test_preset_by_name_and_round_trip():
    assert preset("fixture-6") == fixture_6()
    inst = preset("balanced", P=12, N=3, gamma=0.25, key_set="A", normalisation="M", basis="rotated",
                  rotation_seed=9, z=ZLaw(interval=(0.5, 2.0)))
    back = Instance.from_dict(inst.to_dict())
    assert back == inst
    assert torch.equal(back.basis_matrix, inst.basis_matrix)
    custom = make_instance(5, [[[0, 4], [1, 2, 3]]], z=ZLaw(values=(1.0, 2.0), probs=(0.25, 0.75)),
                           mask_model="fixed", skew=0.1, d=9)
    assert Instance.from_dict(custom.to_dict()) == custom


# -- one precise message per invalid instance -------------------------------------

Z = ZLaw(values=(0.5, 1.5))


def cluster(areas, w=1.0):
    return Cluster(w, tuple(tuple(a) for a in areas), (Z,) * len(areas))


INVALID = {
    "gap": (lambda: Instance(4, (cluster([[0, 1], [3]]),), 0.5),
            r"cluster 1: areas do not cover positions \[2\]; they must partition \[0, 4\)"),
    "overlap": (lambda: Instance(4, (cluster([[0, 1], [1, 2, 3]]),), 0.5),
                r"cluster 1: position 1 lies in areas 1 and 2; areas must be disjoint"),
    "out of range": (lambda: Instance(3, (cluster([[0, 1], [2, 3]]),), 0.5),
                     r"cluster 1: area 2 contains position 3, outside \[0, 3\)"),
    "negative position": (lambda: Instance(3, (cluster([[0, 1], [-1, 2]]),), 0.5),
                          r"cluster 1: area 2 contains position -1, outside \[0, 3\)"),
    "empty area": (lambda: Instance(3, (cluster([[0, 1, 2], []]),), 0.5), r"cluster 1: area 2 is empty"),
    "no areas": (lambda: Instance(3, (Cluster(1.0, (), ()),), 0.5), r"cluster 1 has no areas"),
    "z laws count": (lambda: Instance(2, (Cluster(1.0, ((0,), (1,)), (Z,)),), 0.5),
                     r"cluster 1 has 2 areas but 1 z laws"),
    "negative weight": (lambda: Instance(2, (cluster([[0, 1]], 1.2), cluster([[0], [1]], -0.2)), 0.5),
                        r"cluster weights \[1\.2, -0\.2\] contain a negative or non-finite value"),
    "weights sum": (lambda: Instance(2, (cluster([[0, 1]], 0.5), cluster([[0], [1]], 0.4)), 0.5),
                    r"cluster weights \[0\.5, 0\.4\] sum to 0\.9, not 1"),
    "no cluster": (lambda: Instance(2, (), 0.5), r"an instance needs at least one cluster"),
    "bad P": (lambda: Instance(0, (cluster([[0]]),), 0.5), r"P must be a positive integer, got 0"),
    "z prob negative": (lambda: ZLaw(values=(0.5, 1.5), probs=(1.5, -0.5)),
                        r"z law: probabilities \(1\.5, -0\.5\) contain a negative or non-finite value"),
    "z probs sum": (lambda: ZLaw(values=(0.5, 1.5), probs=(0.5, 0.6)),
                    r"z law: probabilities \(0\.5, 0\.6\) sum to 1\.1, not 1"),
    "z length": (lambda: ZLaw(values=(0.5, 1.5), probs=(1.0,)), r"z law: 2 values but 1 probabilities"),
    "z empty": (lambda: ZLaw(values=()), r"z law: the support is empty"),
    "z non-finite": (lambda: ZLaw(values=(0.5, math.inf)), r"z law: support \(0\.5, inf\) contains a non-finite value"),
    "z both": (lambda: ZLaw(values=(1.0,), interval=(0.5, 1.0)),
               r"z law: give either values \(with probs\) or an interval, not both or neither"),
    "interval L > U": (lambda: ZLaw(interval=(2.0, 1.0)),
                       r"z law: interval \(2\.0, 1\.0\) is not a finite interval with L <= U"),
    "gamma > 1": (lambda: fixture_6().with_options(gamma=1.5), r"masking probability gamma must lie in \[0, 1\], got 1\.5"),
    "gamma < 0": (lambda: fixture_6().with_options(gamma=-0.1), r"masking probability gamma must lie in \[0, 1\], got -0\.1"),
    "key_set": (lambda: fixture_6(key_set="C"), r"key_set must be one of \('B', 'A'\), got 'C'"),
    "mask_model": (lambda: fixture_6(mask_model="block"),
                   r"mask_model must be one of \('bernoulli', 'fixed'\), got 'block'"),
    "normalisation": (lambda: fixture_6(normalisation="sqrt"),
                      r"normalisation must be one of \('none', 'P', 'M'\), got 'sqrt'"),
    "basis": (lambda: fixture_6(basis="random"), r"basis must be one of \('aligned', 'rotated'\), got 'random'"),
    "d too small": (lambda: fixture_6(d=10),
                    r"d = 10 is too small for orthonormal embeddings: need d >= P \+ sum N_k = 11"),
    "skew": (lambda: fixture_6(skew=-1.0), r"skew must be a finite number >= 0, got -1\.0"),
    "preset name": (lambda: preset("checkerboard"),
                    r"unknown preset 'checkerboard'; choose one of \['balanced', 'fixture-6', 'global-local'\]"),
    "preset argument": (lambda: preset("balanced", width=3), r"preset 'balanced': .*unexpected keyword argument 'width'"),
    "balanced N": (lambda: preset("balanced", P=10, N=3), r"balanced preset: N = 3 areas must divide P = 10"),
    "global-local kappas": (lambda: global_local(16, kappa_g=0.3, kappa_l=0.5),
                            r"global-local preset needs 0 < kappa_l <= kappa_g <= 1, got 0\.5, 0\.3"),
    "global-local no room": (lambda: global_local(4, kappa_g=1.0, kappa_l=0.5),
                             r"global-local preset: P = 4 leaves no room for a local area \(global 4, local 2\)"),
    "from_dict missing": (lambda: Instance.from_dict({"P": 3}),
                          r"instance description is missing or has a malformed field: 'clusters'"),
}


def _message(make):
    with pytest.raises(InstanceError) as info:
        make()
    return str(info.value)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_instance_has_its_precise_one_line_message(case):
    make, pattern = INVALID[case]
    msg = _message(make)
    assert re.fullmatch(pattern, msg), msg
    assert "\n" not in msg


def test_every_invalid_instance_has_its_own_message():
    messages = [_message(make) for make, _ in INVALID.values()]
    assert len(set(messages)) == len(messages)


def test_instance_errors_are_value_errors_for_callers():
    with pytest.raises(ValueError):
        fixture_6().with_options(gamma=2.0)


def test_gamma_edges_and_a_single_area_are_valid():
    assert fixture_6().with_options(gamma=0.0).gamma == 0.0 and fixture_6().with_options(gamma=1.0).gamma == 1.0
    one = make_instance(3, [[[0, 1, 2]]])
    assert one.N == (1,) and one.d == 4
