"""THM-CL-v3, the form that holds: CL attention is one pattern shared by all query positions."""
import sympy as sp

from proofcheck.api import CLConfig, Collapse, Lemma, Provenance, cl_runs

D_js, D_iou = sp.symbols("D_JS D_IoU", nonnegative=True)

LEMMA = Lemma(
    id="THM-CL-v3-PATTERN",
    title="CL attention: every query position attends alike, one pattern (both diversity metrics 0)",
    provenance=Provenance(item="SPEC §9.3 THM-CL-v3 (single global pattern [V]; this form [R])", tag="R", paper="v3",
                          paper_item="v3 main CL theorem (number not recovered)"),
    statement=[sp.Eq(D_js, 0), sp.Eq(D_iou, 0)],
    claims=[Collapse(cl_runs(), cl=CLConfig(), form="dominant", area=None)],
    notes="With every position's output pooled (w_p = 1/P), the CL gradient of row p is the same for every p "
          "at equal rows, so from Q = 0 all rows stay equal [D]: every query has one attention pattern.  The "
          "claim: both diversity metrics (JS, 1 - IoU of the top-half mass) are <= 0.01 at the end.  That the "
          "pattern is led by the global area is not claimed: it holds at every logged step for Delta = 1/2 "
          "(P = 8, [6, 2]; P = 16, [12, 2, 2]) but fails at Delta = 1/4 ([4, 2, 2]: 0.283 on area 1 against 0.284 "
          "on a local area at step 1300 of 3000); the masses are in the evidence.",
)
