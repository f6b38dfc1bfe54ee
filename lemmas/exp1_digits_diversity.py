"""EXP-1 (SPEC §10) on real images: MAE's attention is more diverse across query patches than CL's."""
import sympy as sp

from proofcheck.api import DigitsDiversity, Lemma, Provenance, digits_plans

D_mae, D_cl = sp.symbols("D_MAE D_CL", nonnegative=True)

LEMMA = Lemma(
    id="EXP-1-DIGITS",
    title="Real digits: the same one-layer attention trained by MAE attends more diversely across queries than by CL",
    provenance=Provenance(item="SPEC §10 EXP-1 (finding [V]; metrics, model and CL objective [R])", tag="R",
                          paper="v1 §6, v3 Appendix B", paper_item="EXP-1 (ViT-B/16 on ImageNet; here 8 x 8 digits)"),
    statement=[sp.StrictGreaterThan(D_mae, D_cl)],
    claims=[DigitsDiversity(digits_plans())],
    notes="scikit-learn's bundled 8 x 8 digits (1797 images; 400 held out), 2 x 2 patches (P = 16), a one-layer "
          "softmax attention with trainable patch and position embeddings (d = 16), values = raw patches, Q(0) = 0; "
          "MAE (masked reconstruction, gamma = 0.5) and CL (InfoNCE of the mean output of two masked views, "
          "tau = 0.2, 15 negatives) trained alike with Adam (lr 0.01, minibatches of 256).  Both diversity metrics "
          "(JS, 1 - IoU of the top-half mass) over the masked queries of the held-out images; 95% t interval over "
          "seeds of the paired difference.  References: collapsed 0, a 3 x 3-neighbourhood pattern (evidence).",
)
