"""LEM-G7 (SPEC §8) [D]: the global FP correlation of a local position decreases ("decoupling").

SPEC's statement [D]: for a local position p (a != 1) and the global area j = 1, if the
local masses are small the LEM-G6 integrand is about -z_1^3 A_1^2 (1 - A_1), so
Phi_{p -> v_{k,1}} decreases at rate ~ E[z_1^3 A_1^2 (1 - A_1)].

The exact statements checked here are derived for this project ([D], see
proofcheck.spec_inequalities): the pointwise bound
|G6 integrand - (-z_1^3 A_1^2 (1 - A_1))| <= z_1 A_1 max_i z_i^2 sum_{i>=2} A_i,
the same bound in expectation against the autograd gradient, and the pointwise
decrease when max_{i>=2} A_i <= (z_1^2 / max_i z_i^2) A_1.
"""
import sympy as sp

from proofcheck.assumptions import by_name
from proofcheck.inequality import z2_max
from proofcheck.lemma import Lemma, Provenance
from proofcheck.probing import AssumptionProbe
from proofcheck.spec_inequalities import G7_BOUND, G7_DECREASE, G7_ERROR_BOUND, G7_INTEGRAND, G7_MAIN, G7_RATE
from proofcheck.symbols import A, N, i, z

LEMMA = Lemma(
    id="LEM-G7",
    title="Decoupling: a local position's global FP correlation decreases at rate ~ E[z_1^3 A_1^2 (1 - A_1)]",
    provenance=Provenance("SPEC §8 LEM-G7", "D", paper_item="v3 Phase I 'decoupling global FP correlations' [V name]"),
    statement=[sp.LessThan(sp.Abs(G7_INTEGRAND - G7_MAIN), G7_ERROR_BOUND, evaluate=False),
               sp.Eq(sp.Symbol("rate"), z[1] ** 3 * A[1] ** 2 * (1 - A[1])),
               sp.Eq(z2_max, sp.Max(*[z[k] ** 2 for k in (1, 2)])),  # display: max over the event's areas
               sp.Eq(sp.Symbol("local_mass"), sp.Sum(A[i], (i, 2, N)))],
    assumptions=by_name("z_positive", "gamma_interior"),
    claims=[G7_BOUND, G7_RATE, G7_DECREASE, AssumptionProbe(G7_BOUND), AssumptionProbe(G7_DECREASE, ["z_positive"])],
    notes="SPEC's rate comparison with the target local FP correlation (Phase I vs Phase II) is asymptotic and "
          "not checked as such; the derived bound makes 'approximately' exact. Probing shows z > 0 is needed "
          "for the bound as written (z_1 A_1 on the right-hand side).",
)
