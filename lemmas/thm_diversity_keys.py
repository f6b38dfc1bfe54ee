"""Diversity of attention over keys, not areas: a known finding (SPEC §1 [V]; metric [R])."""
import sympy as sp

from proofcheck.api import Diversity, Lemma, Provenance, area_wide_runs

D, D_ideal = sp.symbols("D D_ideal", nonnegative=True)

LEMMA = Lemma(
    id="THM-DIVERSITY-KEYS",
    title="Key-level attention diversity after MAE training is within 10% of the ideal area-wide pattern's",
    provenance=Provenance(item="SPEC §1 conceptual claim [V], §10 EXP-1 (metric [NR])", tag="R", paper="v1 §6, v3",
                          paper_item="EXP-1 attention-diversity metric (formula not recovered)"),
    statement=[sp.LessThan(sp.Abs(D - D_ideal), sp.Rational(1, 10) * D_ideal)],
    claims=[Diversity(area_wide_runs(), level="keys")],
    expect="REFUTED",
    expect_reason="trained attention is more diverse over keys than the ideal pattern (9-27% above it on balanced "
                  "P = 8..32): the ideal spreads a query's mass uniformly over the visible keys of its own area, "
                  "GD's PP correlations do not, so two queries of one area differ.  Pooled by area the score is "
                  "within 0.3% of the ideal (THM-DIVERSITY).  For the key-level statement to hold, its reference "
                  "must allow any spread of mass inside the own area.",
    notes="Same score as THM-DIVERSITY (total variation, proofcheck.setting.diversity) on the attention over keys "
          "instead of its pooling by area.",
)
