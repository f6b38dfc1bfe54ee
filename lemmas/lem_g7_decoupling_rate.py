"""LEM-G7 (SPEC §8) [D]: the global FP correlation of a local position decreases ("decoupling").

SPEC's statement [D]: for a local position p (a != 1) and the global area j = 1, if the
local masses are small the LEM-G6 integrand is about -z_1^3 A_1^2 (1 - A_1), so
Phi_{p -> v_{k,1}} decreases at rate ~ E[z_1^3 A_1^2 (1 - A_1)].

The exact statements checked here are derived for this project ([D], see
proofcheck.lang.formulas): the pointwise bound
|G6 integrand - (-z_1^3 A_1^2 (1 - A_1))| <= z_1 A_1 max_i z_i^2 sum_{i>=2} A_i,
the same bound in expectation against the autograd gradient, and the pointwise
decrease when max_{i>=2} A_i <= (z_1^2 / max_i z_i^2) A_1.
"""
import sympy as sp

from proofcheck.api import (A, A_loc_max, AssumptionProbe, Expect, ExpectedInequality, G7_ASCENT, G7_ERROR_BOUND,
                            G7_MAIN, Lemma, N, PointwiseInequality, Provenance, a, ascent_phi, by_name, i, j, z,
                            z2_max)

BOUND = PointwiseInequality(
    "[D] LEM-G7 (bound derived here): |G6 integrand(j=1) + z_1^3 A_1^2 (1-A_1)| <= z_1 A_1 max_i z_i^2 "
    "sum_{i>=2} A_i for local queries (a != 1)",
    sp.Abs(G7_ASCENT - G7_MAIN), "<=", G7_ERROR_BOUND, condition=sp.Ne(a, 1))

DECREASE = PointwiseInequality(
    "[D] LEM-G7 (derived here): if max_{i>=2} A_i <= (z_1^2 / max z^2) A_1, the global FP ascent integrand "
    "of a local query is <= 0 (decoupling)",
    G7_ASCENT, "<=", 0,
    condition=sp.And(sp.Ne(a, 1), sp.LessThan(z2_max * A_loc_max, z[1] ** 2 * A[1], evaluate=False)))

RATE = ExpectedInequality(
    "[D] LEM-G7 rate: |-dL/dPhi_{p->v_{k,1}} - E[1_k 1_M (-z_1^3 A_1^2 (1-A_1))]| <= E[1_k 1_M z_1 A_1 "
    "max z^2 sum_{i>=2} A_i] (autograd vs the derived bound)",
    sp.Abs(ascent_phi - Expect(G7_MAIN)), "<=", Expect(G7_ERROR_BOUND),
    condition=sp.And(sp.Eq(j, 1), sp.Ne(a, 1)))

LEMMA = Lemma(
    id="LEM-G7",
    title="Decoupling: a local position's global FP correlation decreases at rate ~ E[z_1^3 A_1^2 (1 - A_1)]",
    provenance=Provenance("SPEC §8 LEM-G7", "D", paper_item="v3 Phase I 'decoupling global FP correlations' [V name]"),
    statement=[sp.LessThan(sp.Abs(G7_ASCENT - G7_MAIN), G7_ERROR_BOUND, evaluate=False),
               sp.Eq(sp.Symbol("rate"), z[1] ** 3 * A[1] ** 2 * (1 - A[1])),
               sp.Eq(z2_max, sp.Max(*[z[k] ** 2 for k in (1, 2)])),  # display: max over the event's areas
               sp.Eq(sp.Symbol("local_mass"), sp.Sum(A[i], (i, 2, N)))],
    assumptions=by_name("z_positive", "gamma_interior"),
    claims=[BOUND, RATE, DECREASE, AssumptionProbe(BOUND), AssumptionProbe(DECREASE, ["z_positive"])],
    notes="SPEC's rate comparison with the target local FP correlation (Phase I vs Phase II) is asymptotic and "
          "not checked as such; the derived bound makes 'approximately' exact. Probing shows z > 0 is needed "
          "for the bound as written (z_1 A_1 on the right-hand side).",
)
