"""LEM-G2 (SPEC §8) [D]: span closure / exact reparametrisation.

The gradient of the masked-reconstruction loss lies in
span{e_p v_{k,j}^T} + span{e_p e_q^T}; rows w^T grad L with w orthogonal to all e_p
vanish, and so do columns orthogonal to all v_{k,j} and e_q.  Hence from Q(0) = 0
GD stays in the span and GD on Q equals GD on the coordinates (Phi, Ups).
"""
import sympy as sp

from proofcheck.api import AssumptionProbe, Lemma, Provenance, SpanClosure, by_name

p, q, f, t = sp.symbols("p q f t", integer=True, positive=True)
P, F = sp.symbols("P F", integer=True, positive=True)
Phi, Ups, e, v = sp.IndexedBase("Phi"), sp.IndexedBase("Upsilon"), sp.IndexedBase("e"), sp.IndexedBase("v")
Q_t = sp.Function("Q")(t)

SPAN = SpanClosure()

LEMMA = Lemma(
    id="LEM-G2",
    title="Span closure: the gradient stays in span{e_p v^T} + span{e_p e_q^T}",
    provenance=Provenance("SPEC §8 LEM-G2", "D", paper_item="v1 §5 gradient dynamics (number not recovered)"),
    statement=sp.Eq(Q_t, sp.Sum(Phi[p, f] * e[p] * v[f], (p, 1, P), (f, 1, F))
                    + sp.Sum(Ups[p, q] * e[p] * e[q], (p, 1, P), (q, 1, P))),
    assumptions=by_name("orthonormal", "span_point"),
    claims=[SPAN, AssumptionProbe(SPAN, ["orthonormal", "span_point"])],
    notes="Checked on the full d x d model with a rotated basis and two spare dimensions. Probing: outside "
          "span_point (Q with an off-span part) the gradient still lies in the span; outside orthonormal the "
          "coordinate projection is no longer exact.",
)
