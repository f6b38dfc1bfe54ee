"""SPEC §8's sign and bound statements as inequality claims, in the vocabulary of
:mod:`proofcheck.symbols` (areas 1-based; ``a`` the query's target area, ``j``
the area of the FP coordinate).  Lemma files import these constants.

- ``G5_SIGN`` [D] (SPEC LEM-G5): the target FP ascent integrand is >= 0.
- ``G6_SUFFICIENT_DECREASE`` [D] (SPEC LEM-G6): under the sufficient condition
  the non-target FP ascent integrand is <= 0 (an implication).
- ``G7_BOUND`` [D] (derived here for SPEC LEM-G7): for the global area j = 1 and
  a local query (a != 1), |G6 integrand - (-z_1^3 A_1^2 (1 - A_1))| <=
  z_1 A_1 max_i z_i^2 sum_{i >= 2} A_i.
- ``G7_DECREASE`` [D] (derived here): if max_{i>=2} A_i <= (z_1^2 / max_i z_i^2) A_1
  the global FP correlation of a local query decreases pointwise.
- ``G7_RATE`` [D]: ``G7_BOUND`` in expectation against the autograd gradient:
  |-dL/dPhi_{p -> v_{k,1}} - E[1_k 1_M (-z_1^3 A_1^2 (1 - A_1))]| <= E[1_k 1_M bound].

Derivation of ``G7_BOUND``: with j = 1 != a the LEM-G6 integrand is
z_1 A_1 (S - X_a - z_1^2 A_1 (1 - A_1)), S = sum_{i != a,1} z_i^2 A_i^2,
X_a = z_a^2 A_a (1 - A_a), so integrand - main = z_1 A_1 (S - X_a).  S and X_a
are >= 0, hence |S - X_a| <= S + X_a <= max z^2 (sum_{i != a,1} A_i^2 + A_a)
<= max z^2 sum_{i >= 2} A_i (A_i^2 <= A_i as A_i <= 1).  Derivation of
``G7_DECREASE``: sum_{i != a,1} A_i^2 <= max_{i>=2} A_i * (1 - A_1), so under the
condition S <= z_1^2 A_1 (1 - A_1), and the integrand is <= -z_1 A_1 X_a <= 0.
"""
import sympy as sp

from .inequality import A_loc_max, ExpectedInequality, Expect, PointwiseInequality, ascent_phi, z2_max
from .symbols import A, N, a, delta, i, j, r2_p, z

#: LEM-G5 integrand: z_a A_{p,a} ||r_p||^2
G5_INTEGRAND = z[a] * A[a] * r2_p
#: LEM-G6 bracket pieces, j != a
G6_OTHERS = sp.Sum((1 - delta(i, a)) * (1 - delta(i, j)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))
G6_OWN = z[a] ** 2 * A[a] * (1 - A[a]) + z[j] ** 2 * A[j] * (1 - A[j])
#: LEM-G6 integrand: z_j A_{p,j} (sum_{i != a,j} z_i^2 A_i^2 - z_a^2 A_a (1 - A_a) - z_j^2 A_j (1 - A_j))
G6_INTEGRAND = z[j] * A[j] * (G6_OTHERS - G6_OWN)

G5_SIGN = PointwiseInequality(
    "[D] LEM-G5: target FP ascent integrand z_a A_{p,a} ||x_p - F_p||^2 >= 0", G5_INTEGRAND, ">=", 0,
    assumes=("z_positive",))

G6_SUFFICIENT_DECREASE = PointwiseInequality(
    "[D] LEM-G6: if z_a^2 A_a (1-A_a) + z_j^2 A_j (1-A_j) >= sum_{i != a,j} z_i^2 A_i^2 (j != a), "
    "the non-target FP ascent integrand is <= 0",
    G6_INTEGRAND, "<=", 0, condition=sp.And(sp.Ne(j, a), sp.GreaterThan(G6_OWN, G6_OTHERS, evaluate=False)),
    assumes=("z_positive",))

#: LEM-G6 integrand at j = 1 and its main term for a local query (SPEC LEM-G7)
G7_INTEGRAND = G6_INTEGRAND.subs(j, 1)
G7_MAIN = -z[1] ** 3 * A[1] ** 2 * (1 - A[1])
G7_ERROR_BOUND = z[1] * A[1] * z2_max * sp.Sum(A[i], (i, 2, N))

G7_BOUND = PointwiseInequality(
    "[D] LEM-G7 (bound derived here): |G6 integrand(j=1) + z_1^3 A_1^2 (1-A_1)| <= z_1 A_1 max_i z_i^2 "
    "sum_{i>=2} A_i for local queries (a != 1)",
    sp.Abs(G7_INTEGRAND - G7_MAIN), "<=", G7_ERROR_BOUND, condition=sp.Ne(a, 1))

G7_DECREASE = PointwiseInequality(
    "[D] LEM-G7 (derived here): if max_{i>=2} A_i <= (z_1^2 / max z^2) A_1, the global FP ascent integrand "
    "of a local query is <= 0 (decoupling)",
    G7_INTEGRAND, "<=", 0,
    condition=sp.And(sp.Ne(a, 1), sp.LessThan(z2_max * A_loc_max, z[1] ** 2 * A[1], evaluate=False)),
    assumes=("small_local_masses",))

G7_RATE = ExpectedInequality(
    "[D] LEM-G7 rate: |-dL/dPhi_{p->v_{k,1}} - E[1_k 1_M (-z_1^3 A_1^2 (1-A_1))]| <= E[1_k 1_M z_1 A_1 "
    "max z^2 sum_{i>=2} A_i] (autograd vs the derived bound)",
    sp.Abs(ascent_phi - Expect(G7_MAIN)), "<=", Expect(G7_ERROR_BOUND),
    condition=sp.And(sp.Eq(j, 1), sp.Ne(a, 1)))
