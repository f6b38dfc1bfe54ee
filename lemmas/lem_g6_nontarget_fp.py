"""LEM-G6 (SPEC §8) [D]: non-target FP correlations.

For j != a:
-dL/dPhi_{p->v_{k,j}} = E[1_k 1{p in M} z_j A_j (sum_{i != a,j} z_i^2 A_i^2 - z_a^2 A_a (1 - A_a) - z_j^2 A_j (1 - A_j))].

This file checks the identity (the j != a entries only).  SPEC's sufficient
condition for a decrease is an inequality claim; it is in SIGN_CLAIMS below.
"""
import sympy as sp

from proofcheck.assumptions import by_name
from proofcheck.identity import GradientIdentity
from proofcheck.lemma import Lemma, Provenance
from proofcheck.probing import AssumptionProbe
from proofcheck.spec_inequalities import G6_SUFFICIENT_DECREASE
from proofcheck.symbols import A, N, a, delta, i, j, z

OTHERS = sp.Sum((1 - delta(i, a)) * (1 - delta(i, j)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))
#: per-event integrand of -dL/dPhi_{p->v_{k,j}}, j != a
ASCENT = z[j] * A[j] * (OTHERS - z[a] ** 2 * A[a] * (1 - A[a]) - z[j] ** 2 * A[j] * (1 - A[j]))

IDENTITY = GradientIdentity("[D] LEM-G6: -dL/dPhi_{p->v_{k,j}} = E[1_k 1_M z_j A_j (sum_{i != a,j} z_i^2 A_i^2 "
                            "- z_a^2 A_a (1-A_a) - z_j^2 A_j (1-A_j))] (non-target entries j != a)",
                            "fp", ASCENT, restriction=sp.Ne(j, a))
#: SPEC's sufficient condition for a decrease, and a probe of its z > 0 assumption
SIGN_CLAIMS = [G6_SUFFICIENT_DECREASE, AssumptionProbe(G6_SUFFICIENT_DECREASE, ["z_positive"])]

LEMMA = Lemma(
    id="LEM-G6",
    title="Non-target FP gradient: z_j A_j (sum_{i != a,j} z_i^2 A_i^2 - z_a^2 A_a (1-A_a) - z_j^2 A_j (1-A_j))",
    provenance=Provenance("SPEC §8 LEM-G6", "D", paper="v1 §5 (gradient dynamics of attention correlations)",
                          paper_item="number not recovered"),
    statement=sp.Eq(sp.Symbol("-dL/dPhi_{p->v_{k,j}}"), ASCENT, evaluate=False),
    assumptions=by_name("orthonormal"),
    claims=[IDENTITY, *SIGN_CLAIMS],
    notes="The identity needs no z > 0.",
)
