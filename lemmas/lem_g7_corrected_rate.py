"""LEM-G7 with the term SPEC drops (docs/mathematics.md §5.1) [D].

For a local position p (a != 1) and the global area j = 1 the LEM-G6 integrand is exactly
-z_1 A_1 (z_1^2 A_1 (1 - A_1) + z_a^2 A_a (1 - A_a) - sum_{i != 1,a} z_i^2 A_i^2):
SPEC's -z_1^3 A_1^2 (1 - A_1) plus the dropped -z_1 A_1 z_a^2 A_a (1 - A_a) and a term second
order in the local masses.  Stated here pointwise as two inequalities (their conjunction is the
equality) beside LEM-G7-SPEC, which is SPEC's form and a known finding.
"""
import sympy as sp

from proofcheck.api import G7_ASCENT, G7_CORRECTED, Lemma, PointwiseInequality, Provenance, a, by_name

LOCAL = sp.Ne(a, 1)

AT_MOST = PointwiseInequality("[D] LEM-G7 corrected: G6 integrand(j=1) <= -z_1 A_1 (z_1^2 A_1 (1-A_1) + z_a^2 A_a "
                              "(1-A_a) - sum_{i != 1,a} z_i^2 A_i^2) for a != 1", G7_ASCENT, "<=", G7_CORRECTED,
                              condition=LOCAL)
AT_LEAST = PointwiseInequality("[D] LEM-G7 corrected: G6 integrand(j=1) >= -z_1 A_1 (z_1^2 A_1 (1-A_1) + z_a^2 A_a "
                               "(1-A_a) - sum_{i != 1,a} z_i^2 A_i^2) for a != 1", G7_ASCENT, ">=", G7_CORRECTED,
                               condition=LOCAL)

LEMMA = Lemma(
    id="LEM-G7-CORRECTED",
    title="Decoupling rate with the z_a term: the global FP integrand of a local query, exactly",
    provenance=Provenance("SPEC §8 LEM-G7 (corrected, docs/mathematics.md §5.1)", "D",
                          paper_item="v3 Phase I 'decoupling global FP correlations' [V name]"),
    statement=sp.Eq(G7_ASCENT, G7_CORRECTED, evaluate=False),
    assumptions=by_name("gamma_interior"),
    claims=[AT_MOST, AT_LEAST],
    notes="An identity in the event symbols: it needs no z > 0, so z is free in its decisions.",
)
