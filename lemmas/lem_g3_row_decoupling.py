"""LEM-G3 (SPEC §8) [D]: row decoupling.

L = sum_p L_p, where L_p depends on Q only through the row e_p^T Q, so the
dynamics of {Phi_{p->.}, Ups_{p->.}} for different query positions p are independent.
"""
import sympy as sp

from proofcheck.api import AssumptionProbe, Lemma, Provenance, RowDecoupling, by_name

p, P = sp.symbols("p P", integer=True, positive=True)
L, L_p, Q = sp.Function("L"), sp.Function("L_p"), sp.Symbol("Q")
e = sp.IndexedBase("e")

ROWS = RowDecoupling()

LEMMA = Lemma(
    id="LEM-G3",
    title="Row decoupling: the loss is a sum of per-query-row losses",
    provenance=Provenance("SPEC §8 LEM-G3", "D"),
    statement=sp.Eq(L(Q), sp.Sum(L_p(e[p] * Q), (p, 1, P))),
    assumptions=by_name("orthonormal", "span_point"),
    claims=[ROWS, AssumptionProbe(ROWS, ["span_point"])],
    notes="Hessian-vector products (autograd, full model, rotated basis) in a direction inside row p' have no "
          "component in the other rows, and L(Q) + (P-1) L(0) = sum_p L(e_p e_p^T Q).",
)
