"""LEM-G6 (SPEC §8) [D]: non-target FP correlations.

For j != a:
-dL/dPhi_{p->v_{k,j}} = E[1_k 1{p in M} z_j A_j (sum_{i != a,j} z_i^2 A_i^2 - z_a^2 A_a (1 - A_a) - z_j^2 A_j (1 - A_j))].

This file checks the identity (the j != a entries only).  SPEC's sufficient
condition for a decrease is an inequality claim; it is in SIGN_CLAIMS below.
"""
import sympy as sp

from proofcheck.api import (AssumptionProbe, G6_ASCENT, G6_OTHERS, G6_OWN, GradientIdentity, Lemma,
                            PointwiseInequality, Provenance, a, by_name, j)

ASCENT = G6_ASCENT

IDENTITY = GradientIdentity("[D] LEM-G6: -dL/dPhi_{p->v_{k,j}} = E[1_k 1_M z_j A_j (sum_{i != a,j} z_i^2 A_i^2 "
                            "- z_a^2 A_a (1-A_a) - z_j^2 A_j (1-A_j))] (non-target entries j != a)",
                            "fp", ASCENT, restriction=sp.Ne(j, a))
#: SPEC's sufficient condition for a decrease, and a probe of its z > 0 assumption
SUFFICIENT_DECREASE = PointwiseInequality(
    "[D] LEM-G6: if z_a^2 A_a (1-A_a) + z_j^2 A_j (1-A_j) >= sum_{i != a,j} z_i^2 A_i^2 (j != a), "
    "the non-target FP ascent integrand is <= 0",
    ASCENT, "<=", 0, condition=sp.And(sp.Ne(j, a), sp.GreaterThan(G6_OWN, G6_OTHERS, evaluate=False)),
    assumes=("z_positive",))
SIGN_CLAIMS = [SUFFICIENT_DECREASE, AssumptionProbe(SUFFICIENT_DECREASE, ["z_positive"])]

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
