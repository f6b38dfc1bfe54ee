"""Checker adequacy: generic mutants of each gradient identity (proofcheck.engine.mutation)
are REFUTED by the symbolic leg and by the numeric leg separately, and the
mutants that are still true are not."""
from pathlib import Path

import pytest
import sympy as sp
import torch

from proofcheck.lang.cases import Case
from proofcheck.setting.instance import DTYPE, fixture_6, make_instance
from proofcheck.engine.discovery import load_lemma_file
from proofcheck.engine.mutation import equivalent, family, mutants
from proofcheck.engine.symbolic import prove_identity
from proofcheck.lang.symbols import A, R_p, a, delta, j, u_q, z
from proofcheck.verdict import Verdict

LEMMAS = Path(__file__).resolve().parent.parent / "lemmas"
IDENTITY_LEMMAS = ["lem_g1_full_gradient.py", "lem_g4_fp_gradient.py", "lem_g5_target_fp_monotone.py",
                   "lem_g6_nontarget_fp.py", "lem_g8_pp_gradient.py"]
SMALL = make_instance(4, [[[0, 1], [2, 3]], [[0, 2], [1, 3]]], weights=[0.4, 0.6], gamma=0.4)
G4 = z[j] * A[j] * (z[j] ** 2 * (delta(j, a) - A[j]) + R_p)


def test_mutant_families_of_lem_g4():
    out = mutants(G4)
    labels = [label for label, _ in out]
    assert {family(label) for label in labels} == {"sign", "drop", "square", "constant", "swap"}
    assert ("sign flipped", -G4) in out
    assert ("z[j] -> z[j]**2", G4.xreplace({z[j]: z[j] ** 2})) in out
    assert all(sp.srepr(m) != sp.srepr(G4) for _, m in out)
    assert len({sp.srepr(m) for _, m in out}) == len(out)


def test_equivalence_decisions():
    g5 = z[a] * A[a]
    assert equivalent(g5, z[j] * A[j], restriction=sp.Eq(j, a))      # j <-> a on the j = a entries
    assert not equivalent(g5, z[j] * A[j])
    assert not equivalent(G4, -G4)
    assert equivalent(u_q * z[a], u_q**2 * z[a])                      # u_q is an indicator
    assert not equivalent(u_q * z[a], z[a]) and equivalent(u_q * z[a], z[a], key_set="A")  # A: every key is visible
    assert not equivalent(G4, G4.subs(z[j], z[j] ** 2))


def one_per_family(claim):
    """The first mutant of each family, and every mutant that is still true."""
    wrong, still_true = {}, []
    for label, m in mutants(claim.expression):
        if equivalent(claim.expression, m, claim.restriction):
            still_true.append((label, m))
        else:
            wrong.setdefault(family(label), (label, m))
    return list(wrong.values()), still_true


@pytest.mark.parametrize("lemma_file", IDENTITY_LEMMAS)
def test_planted_wrong_versions_refuted_by_both_legs_separately(lemma_file):
    claim = load_lemma_file(LEMMAS / lemma_file).claims[0]
    wrong, still_true = one_per_family(claim)
    assert len(wrong) >= 4  # sign, drop, square, constant (+ swap where the statement has j or z_j)
    g = torch.Generator().manual_seed(2)
    case = Case(SMALL, 2 * torch.rand(SMALL.P, SMALL.F, dtype=DTYPE, generator=g) - 1,
                2 * torch.rand(SMALL.P, SMALL.P, dtype=DTYPE, generator=g) - 1)
    for label, m in wrong:
        sym = prove_identity(m, claim.coordinate, fixture_6(), "B", restriction=claim.restriction)
        assert sym.verdict is Verdict.REFUTED, (label, sym.summary)
        assert not claim.mutated(m).evaluate_case(case).holds, label
    for label, m in still_true:
        sym = prove_identity(m, claim.coordinate, SMALL, "B", restriction=claim.restriction)
        assert sym.verdict is Verdict.PROVED, (label, sym.summary)
        assert claim.mutated(m).evaluate_case(case).holds, label


@pytest.mark.slow
@pytest.mark.parametrize("key_set", ["B", "A"])
@pytest.mark.parametrize("lemma_file", IDENTITY_LEMMAS)
def test_every_mutant_is_judged_consistently(lemma_file, key_set):
    claim = load_lemma_file(LEMMAS / lemma_file).claims[0]
    inst = fixture_6(key_set=key_set)
    g = torch.Generator().manual_seed(0)
    case = Case(inst, 4 * torch.rand(inst.P, inst.F, dtype=DTYPE, generator=g) - 2,
                4 * torch.rand(inst.P, inst.P, dtype=DTYPE, generator=g) - 2)
    for label, m in mutants(claim.expression):
        true = equivalent(claim.expression, m, claim.restriction, key_set=key_set)
        sym = prove_identity(m, claim.coordinate, inst, key_set, restriction=claim.restriction).verdict
        assert sym is (Verdict.PROVED if true else Verdict.REFUTED), label
        assert claim.mutated(m).evaluate_case(case).holds is true, label
