"""LEM-G5 (SPEC §8) [D]: the target FP correlation is monotone.

For j = a = a_k(p) the inner product <x_p - F_p, z_a v_{k,a} - F_p> equals ||x_p - F_p||^2, so
-dL/dPhi_{p->v_{k,a}} = E[1_k 1{p in M} z_a A_{p,a} ||r_p||^2], which is >= 0 when z > 0.

This file checks the identity (the j = a entries only).  The sign claim (>= 0 for
z >= L > 0) is an inequality claim; it is in SIGN_CLAIMS below.
"""
import sympy as sp

from proofcheck.api import (AssumptionProbe, G5_ASCENT, GradientIdentity, Lemma, PointwiseInequality, Provenance, a,
                            by_name, j)

ASCENT = G5_ASCENT

IDENTITY = GradientIdentity("[D] LEM-G5: -dL/dPhi_{p->v_{k,a}} = E[1_k 1_M z_a A_a ||r_p||^2] (target entries j = a)",
                            "fp", ASCENT, restriction=sp.Eq(j, a))
#: the sign claim (needs z > 0), and a probe showing that it does
SIGN = PointwiseInequality("[D] LEM-G5: target FP ascent integrand z_a A_{p,a} ||x_p - F_p||^2 >= 0", ASCENT, ">=", 0,
                          assumes=("z_positive",))
SIGN_CLAIMS = [SIGN, AssumptionProbe(SIGN, ["z_positive"])]

LEMMA = Lemma(
    id="LEM-G5",
    title="Target FP correlation is monotone: -dL/dPhi_{p->v_{k,a}} = E[1_k 1{p in M} z_a A_a ||r_p||^2] (>= 0)",
    provenance=Provenance("SPEC §8 LEM-G5", "D", paper="v1 §5 (gradient dynamics of attention correlations)",
                          paper_item="number not recovered"),
    statement=sp.Eq(sp.Symbol("-dL/dPhi_{p->v_{k,a}}"), ASCENT, evaluate=False),
    assumptions=by_name("orthonormal"),
    claims=[IDENTITY, *SIGN_CLAIMS],
    notes="The identity needs no z > 0; the sign (monotonicity) does.",
)
