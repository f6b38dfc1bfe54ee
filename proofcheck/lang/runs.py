"""The training runs the built-in trajectory lemmas share (one cache entry each)."""
from __future__ import annotations

from proofcheck.context import FULL, QUICK
from proofcheck.setting.trainer import TrainConfig
from proofcheck.setting.runs import Run


#: THM-MAIN-v1 step size.  Measured on balanced P=8 (exact GD): eta = 10 / 20 / 100 reach an
#: event fraction of 0.74 / 0.80 / 0.94 after 1500 / 1500 / 800 steps (logarithmic growth),
#: eta = 120 reaches T*(0.05) = 575 and eta = 200 reaches it by step 80; the loss decreases at
#: every step for every eta up to 3000, so GD is still a descent method there.
ETA_AREA_WIDE = 200.0


def area_wide_runs() -> dict[str, list[Run]]:
    """Balanced runs for THM-MAIN-v1, LEM-G5 along training and the diversity
    claim: quick P in {8, 16}, full P in {8, 16, 32}.  P = 8 is exact GD; larger
    P train on a fixed Monte Carlo batch (GD on an empirical loss) and are
    evaluated on an independent held-out batch."""
    from proofcheck.setting.instance import balanced

    def run(P: int, steps: int) -> Run:
        cfg = TrainConfig(steps=steps, eta=ETA_AREA_WIDE, log_every=5, eval_samples=512 if P > 8 else 8192)
        return Run(balanced(P), cfg, eval_samples=2048)

    return {QUICK: [run(8, 100), run(16, 60)], FULL: [run(8, 400), run(16, 400), run(32, 400)]}


#: THM-CL-v3 step size, shared by CL and MAE in the comparison: in the small-step regime of the
#: theorem-regime issue (largest logit change per GD step <= 0.1).  Measured on gap-P8 instances: CL
#: (512 images, 1-15 negatives) moves the logits by at most 0.075 per step, MAE (exact) by less.
ETA_CL = 4.0


def cl_runs() -> dict:
    """THM-CL-v3 collapse runs: Delta > 0 instances of :func:`proofcheck.setting.contrastive.gap_instance`.
    Quick: P = 8 with areas [6, 2] (Delta = 1/2), 800 steps; full: also [4, 2, 2] (Delta = 1/4) and
    P = 16 with [12, 2, 2] (Delta = 5/8), 3000 steps.  Exact evaluation for P = 8."""
    from proofcheck.setting.contrastive import gap_instance

    def run(P, g, loc, steps):
        return Run(gap_instance(P, g, loc), TrainConfig(steps=steps, eta=ETA_CL, log_every=50, eval_samples=4096),
                   eval_samples=4096)
    return {QUICK: [run(8, 6, 2, 800)], FULL: [run(8, 6, 2, 3000), run(8, 4, 2, 3000), run(16, 12, 2, 3000)]}


#: MAE's step in the comparison: exact GD on gap-P8 instances moves the logits by at most 0.09 per step
#: at eta = 0.8 (0.45 at eta = 4)
ETA_MAE_SMALL = 0.8


def contrast_runs() -> tuple[dict, dict]:
    """(runs, negatives) of the MAE-versus-CL sweep over the information gap, CL's GD settings (MAE runs
    for the same time at :data:`ETA_MAE_SMALL`): P = 8 layouts with Delta = 1/2 and -1/8 (areas [6, 2],
    [2, 3, 3]) at the quick budget, 200 steps, 1 or 15 negatives; at the full budget also Delta = 1/4 and
    0 ([4, 2, 2], [2, 2, 2, 2]), 2000 steps, 1, 3, 15 or 63 negatives."""
    from proofcheck.setting.contrastive import gap_instance

    def sweep(steps, layouts):
        return [Run(gap_instance(8, g, loc), TrainConfig(steps=steps, eta=ETA_CL, log_every=50), eval_samples=4096)
                for g, loc in layouts]
    return ({QUICK: sweep(200, ((6, 2), (2, 3))), FULL: sweep(2000, ((6, 2), (4, 2), (2, 2), (2, 3)))},
            {QUICK: (1, 15), FULL: (1, 3, 15, 63)})


def digits_plans() -> dict:
    """EXP-1 on scikit-learn's digits: 8 seeds at both budgets, because CL collapses in only some of them
    (at 1500 steps, 3 of 8 seeds give a JS diversity of 0.001, the others 0.16-0.55 against MAE's 0.55);
    quick 300 Adam steps (about 2 s per model on one core), full 1500; minibatches of 256 images, 15
    negatives per CL anchor."""
    from proofcheck.setting.digits import DigitsConfig

    return {QUICK: DigitsConfig(seeds=tuple(range(8)), steps=300), FULL: DigitsConfig(seeds=tuple(range(8)), steps=1500)}
