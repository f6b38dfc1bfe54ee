"""LEM-G7 as SPEC writes it (SPEC §8 LEM-G7) [R]: a known finding.

SPEC: for a local position p (a != 1) and the global area j = 1, if max_{i>=2} A_{p,i} << A_{p,1}
then the LEM-G6 integrand is approximately -z_1^3 A_1^2 (1 - A_1).  Read pointwise as an equality
under small local masses (here max_{i>=2} A_i <= A_1 / 100), it is false: it drops
-z_1 A_1 z_a^2 A_a (1 - A_a), a term of the same order (docs/mathematics.md §5.1; in key set A
with N = 2 the ratio integrand / approximation is exactly 1 + z_a^2 / z_1^2 at every A_1).
The exact form with that term is LEM-G7-CORRECTED.
"""
import sympy as sp

from proofcheck.api import A, A_loc_max, G7_ASCENT, G7_MAIN, Lemma, PointwiseInequality, Provenance, a, by_name

#: SPEC's "<<", read as a factor 100
SMALL_LOCAL = sp.And(sp.Ne(a, 1), sp.LessThan(100 * A_loc_max, A[1], evaluate=False))

AT_MOST = PointwiseInequality(
    "[R] LEM-G7 as SPEC writes it: with max_{i>=2} A_i <= A_1/100 (a != 1), G6 integrand(j=1) <= -z_1^3 A_1^2 (1-A_1)",
    G7_ASCENT, "<=", G7_MAIN, condition=SMALL_LOCAL)
AT_LEAST = PointwiseInequality(
    "[R] LEM-G7 as SPEC writes it: with max_{i>=2} A_i <= A_1/100 (a != 1), G6 integrand(j=1) >= -z_1^3 A_1^2 (1-A_1)",
    G7_ASCENT, ">=", G7_MAIN, condition=SMALL_LOCAL)

LEMMA = Lemma(
    id="LEM-G7-SPEC",
    title="SPEC's LEM-G7 rate as written: the global FP integrand of a local query is -z_1^3 A_1^2 (1 - A_1)",
    provenance=Provenance("SPEC §8 LEM-G7", "R", paper_item="v3 Phase I 'decoupling global FP correlations' [V name]"),
    statement=sp.Eq(G7_ASCENT, G7_MAIN, evaluate=False),
    assumptions=by_name("z_positive", "gamma_interior"),
    claims=[AT_LEAST, AT_MOST],
    expect="REFUTED",
    expect_reason="SPEC's approximation drops -z_1 A_1 z_a^2 A_a (1 - A_a), of the same order as the kept term "
                  "(docs/mathematics.md §5.1): the integrand is more negative than the approximation (in key set A "
                  "with N = 2 by the factor 1 + z_a^2/z_1^2 however small the local mass), so '>=' fails from N = 2 "
                  "and '<=' from N = 3; the exact form is LEM-G7-CORRECTED.",
    notes="Both directions are decided exactly per N; the corrected statement (LEM-G7-CORRECTED) holds.",
)
