"""The SymPy vocabulary in which lemma statements are written (SPEC §7-§8).

A statement about one event -- an image X ~ D_k with its mask M, and a masked
query position p -- uses these symbols.  Areas are 1-based as in SPEC.

===========  ====================================================================
``z[i]``     z_i(X), the scale of area i of the event's cluster
``A[i]``     A_{p,i}, attention mass on the unmasked keys of area i
``A0``       A_{p,0}, attention mass on masked keys (0 in key-set variant A)
``N``        N_k, the number of areas of the event's cluster
``a``        a_k(p), the target area of the query p
``j``        the area of the FP coordinate Phi_{p -> v_{k,j}} being differentiated
``b``        the area of the key q of the PP coordinate Ups_{p -> q}
``i``        summation index over areas
``attn_q``   attn_{p -> q} for the key q of a PP coordinate
``u_q``      1{q in U}: 1 when the key q is unmasked, else 0
===========  ====================================================================

``R_p`` and ``r2_p`` are the residual quantities of SPEC DEF-CORR written in
this vocabulary; lemma files may use them or spell them out.
"""
import sympy as sp

#: real, not positive: a proof may use z > 0 only where the lemma assumes ``z_positive``
#: (DEF-DATA item 4), and the checks add it there (issue 10, item 9)
z = sp.IndexedBase("z", real=True)
A = sp.IndexedBase("A", nonnegative=True)
A0 = sp.Symbol("A_0", nonnegative=True)
N = sp.Symbol("N", integer=True, positive=True)
i, j, a, b = sp.symbols("i j a b", integer=True, positive=True)
attn_q = sp.Symbol("attn_q", nonnegative=True)
u_q = sp.Symbol("u_q", nonnegative=True)
delta = sp.KroneckerDelta

#: R_p = <F_p - x_p, F_p> = sum_i z_i^2 A_i^2 - z_a^2 A_a   (SPEC DEF-CORR, [D])
R_p = sp.Sum(z[i] ** 2 * A[i] ** 2, (i, 1, N)) - z[a] ** 2 * A[a]
#: ||r_p||^2 = z_a^2 (1 - A_a)^2 + sum_{i != a} z_i^2 A_i^2   (SPEC DEF-CORR, [D])
r2_p = z[a] ** 2 * (1 - A[a]) ** 2 + sp.Sum((1 - delta(i, a)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))

#: max_i z_i(X)^2 over the event's areas (for bounds such as LEM-G7's)
z2_max = sp.Symbol("z2_max", nonnegative=True)
#: max_{i >= 2} A_{p,i}: the largest local mass (SPEC LEM-G7); 0 when N = 1
A_loc_max = sp.Symbol("A_loc_max", nonnegative=True)
#: -dL/dPhi_{p -> v_{k,j}} by autograd (expectation-level claims only)
ascent_phi = sp.Symbol("ascent_phi")

#: every symbol a statement may use (anything else is an "unknown symbol")
VOCABULARY = {z, A, A0, N, i, j, a, b, attn_q, u_q}
INDEXED = {z, A}
