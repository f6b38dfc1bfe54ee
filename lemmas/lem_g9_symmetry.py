"""LEM-G9 (SPEC §8) [D]: symmetry / invariance.

If a permutation of positions and features maps the instance to itself (partitions,
area sizes, cluster weights, z laws), the correlations it maps onto each other stay
equal for all t when Q(0) = 0; the gradient is equivariant under such a permutation.

SPEC's first bullet ("keys q, q' with the same area-membership relation to p in every
cluster keep equal Ups_{p->q}") is stronger than the automorphism argument: it is
REFUTED when the other areas differ in size or z law (SymmetryPreserved with
pairs="area_relation"; see tests/test_structural.py).  The checked form is the
automorphism one, which covers SPEC's K = 1 corollary for keys q, q' != p.
"""
import sympy as sp

from proofcheck.api import AssumptionProbe, GradientEquivariance, Lemma, Provenance, SymmetryPreserved, by_name

p, q, t = sp.symbols("p q t", integer=True, nonnegative=True)
pi = sp.Function("pi")
Ups = sp.IndexedBase("Upsilon")

PRESERVED = SymmetryPreserved()

LEMMA = Lemma(
    id="LEM-G9",
    title="Symmetry: automorphisms of the instance preserve equal correlations along GD from Q = 0",
    provenance=Provenance("SPEC §8 LEM-G9", "D"),
    statement=sp.Eq(Ups[pi(p), pi(q), t], Ups[p, q, t]),
    assumptions=by_name("symmetric_instance"),
    claims=[GradientEquivariance(), PRESERVED, AssumptionProbe(PRESERVED, ["zero_init"])],
    notes="Automorphisms are found by brute force (P <= 7), clusters kept fixed. Probing: from a random "
          "initialisation the equalities fail (zero_init is needed).",
)
