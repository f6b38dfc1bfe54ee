"""THM-CL-v3, the form that holds: CL attention is one pattern for all queries, led by the global area."""
import sympy as sp

from proofcheck.api import CLConfig, Collapse, Lemma, Provenance, cl_runs

A = sp.Function("A")
p, q, t = sp.symbols("p q t", integer=True)
D_js, D_iou = sp.symbols("D_JS D_IoU", nonnegative=True)

LEMMA = Lemma(
    id="THM-CL-v3-PATTERN",
    title="CL attention: every query attends alike (diversity 0) and the global area has the largest share at every step",
    provenance=Provenance(item="SPEC §9.3 THM-CL-v3 (single global pattern [V]; this form [R])", tag="R", paper="v3",
                          paper_item="v3 main CL theorem (number not recovered)"),
    statement=[sp.GreaterThan(A(p, 1, t), sp.Max(A(p, 2, t), A(p, 3, t))), sp.Eq(D_js, 0), sp.Eq(D_iou, 0)],
    claims=[Collapse(cl_runs(), cl=CLConfig(), form="dominant")],
    notes="With every position's output pooled (w_p = 1/P), the CL gradient of row p is the same for every p "
          "at equal rows, so from Q = 0 all rows stay equal [D]: every query has one attention pattern.  The "
          "claim: at every logged step after the first, every (p, k) puts at least as much mass on area 1 as on "
          "any other area, and both diversity metrics (JS, 1 - IoU of the top-half mass) are <= 0.01 at the end.",
)
