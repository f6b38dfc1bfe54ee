"""SPEC §8's formulas, stated once, in the vocabulary of :mod:`proofcheck.lang.symbols`
(areas 1-based; ``a`` the query's target area, ``j`` the area of the FP
coordinate, ``b`` the area of a PP coordinate's key).  Every per-event integrand
is of the ascent direction -dL/d(coordinate); the indicators 1_k 1{p in M}
(and 1{q in S}) are the event loop's.  Lemma files build their claims and their
displayed statements from these constants, and the checks that need a formula
(LEM-G10's drift, LEM-G12's ablation) are handed it by the lemma file, so a
correction here reaches every claim that uses the formula.

The sign and bound claims the lemma files build from them:

- LEM-G5 [D]: the target FP ascent integrand is >= 0 (needs z > 0).
- LEM-G6 [D]: under the sufficient condition the non-target FP ascent integrand
  is <= 0 (an implication).
- LEM-G7 bound [D] (derived here for SPEC LEM-G7): for the global area j = 1 and
  a local query (a != 1), |G6 integrand - (-z_1^3 A_1^2 (1 - A_1))| <=
  z_1 A_1 max_i z_i^2 sum_{i >= 2} A_i.
- LEM-G7 decrease [D] (derived here): if max_{i>=2} A_i <= (z_1^2 / max_i z_i^2) A_1
  the global FP correlation of a local query decreases pointwise.
- LEM-G7-SPEC [R]: SPEC's "integrand ~ -z_1^3 A_1^2 (1 - A_1)" read as an equality under small local
  masses: false (it drops -z_1 A_1 z_a^2 A_a (1 - A_a), a term of the same order); LEM-G7-CORRECTED [D]:
  the integrand equals G7_CORRECTED exactly.
- LEM-G7 rate [D]: the bound in expectation against the autograd gradient:
  |-dL/dPhi_{p -> v_{k,1}} - E[1_k 1_M (-z_1^3 A_1^2 (1 - A_1))]| <= E[1_k 1_M bound].

Derivation of the bound: with j = 1 != a the LEM-G6 integrand is
z_1 A_1 (S - X_a - z_1^2 A_1 (1 - A_1)), S = sum_{i != a,1} z_i^2 A_i^2,
X_a = z_a^2 A_a (1 - A_a), so integrand - main = z_1 A_1 (S - X_a).  S and X_a
are >= 0, hence |S - X_a| <= S + X_a <= max z^2 (sum_{i != a,1} A_i^2 + A_a)
<= max z^2 sum_{i >= 2} A_i (A_i^2 <= A_i as A_i <= 1).  Derivation of
the decrease: sum_{i != a,1} A_i^2 <= max_{i>=2} A_i * (1 - A_1), so under the
condition S <= z_1^2 A_1 (1 - A_1), and the integrand is <= -z_1 A_1 X_a <= 0.
"""
import sympy as sp

from proofcheck.lang.symbols import A, N, R_p, a, attn_q, b, delta, i, j, r2_p, u_q, z, z2_max

#: LEM-G1: c_q = attn_{p->q} <x_p - F_p, x~_q - F_p>, the coefficient of e_p (x~_q + e_q)^T in -grad_Q L
G1_COEFFICIENT = attn_q * (u_q * z[b] ** 2 * (delta(b, a) - A[b]) + R_p)
#: LEM-G4: -dL/dPhi_{p->v_{k,j}} integrand z_j A_{p,j} (z_j^2 (delta_ja - A_{p,j}) + R_p)
G4_ASCENT = z[j] * A[j] * (z[j] ** 2 * (delta(j, a) - A[j]) + R_p)
#: LEM-G5: the target entries j = a, z_a A_{p,a} ||r_p||^2
G5_ASCENT = z[a] * A[a] * r2_p
#: LEM-G6 bracket pieces, j != a
G6_OTHERS = sp.Sum((1 - delta(i, a)) * (1 - delta(i, j)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))
G6_OWN = z[a] ** 2 * A[a] * (1 - A[a]) + z[j] ** 2 * A[j] * (1 - A[j])
#: LEM-G6: the non-target entries, z_j A_{p,j} (sum_{i != a,j} z_i^2 A_i^2 - z_a^2 A_a (1 - A_a) - z_j^2 A_j (1 - A_j))
G6_ASCENT = z[j] * A[j] * (G6_OTHERS - G6_OWN)
#: LEM-G7: the LEM-G6 integrand at the global area j = 1, and SPEC's main term for a local query
G7_ASCENT = G6_ASCENT.subs(j, 1)
G7_MAIN = -z[1] ** 3 * A[1] ** 2 * (1 - A[1])
#: the derived bound on G7_ASCENT - G7_MAIN (see the derivation above)
G7_ERROR_BOUND = z[1] * A[1] * z2_max * sp.Sum(A[i], (i, 2, N))
#: LEM-G7 with the term SPEC drops (docs/mathematics.md §5.1), an exact rewriting of G7_ASCENT for a != 1:
#: -z_1 A_1 (z_1^2 A_1 (1 - A_1) + z_a^2 A_a (1 - A_a) - sum_{i != 1, a} z_i^2 A_i^2)
G7_CORRECTED = -z[1] * A[1] * (z[1] ** 2 * A[1] * (1 - A[1]) + z[a] ** 2 * A[a] * (1 - A[a])
                               - sp.Sum((1 - delta(i, a)) * (1 - delta(i, 1)) * z[i] ** 2 * A[i] ** 2, (i, 1, N)))
#: LEM-G8: -dL/dUps_{p->q} integrand attn_q (1{q in U} z_b^2 (delta_ba - A_b) + R_p)
G8_ASCENT = attn_q * (u_q * z[b] ** 2 * (delta(b, a) - A[b]) + R_p)
