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



#: THM-MAIN-v1 in its regime: flow time T*(0.05) measured on the population flow (balanced, two areas of
#: P/2 per cluster, BDF rtol 1e-6): key set B 9.4e4 / 7.4e4 / 5.9e4 at P = 8 / 16 / 64, key set A
#: 2.9e4 / 1.1e4 / 1.4e4 (it falls with P at kappa = 1); half-shift P = 16: 9.4e4 (B), 1.2e5 (A).  The
#: flows run to FLOW_HORIZON = 2 x 100 x the largest, so that item 3's drift over [T*, 100 T*] is inside
#: the budget with room (issue 11 item 7).
T_STAR_MEASURED = 1.2e5
FLOW_HORIZON = 2 * 100 * T_STAR_MEASURED
#: flow log points, geometric in t from 1 to FLOW_HORIZON: a ratio of 1.26 between neighbours
FLOW_LOG_POINTS = 75


def half_shift(P: int, key_set: str = "B"):
    """Areas of size C = P^(1/2) (kappa = 1/2, SPEC ASM-DIM "polynomial size"): cluster 1 in blocks of C,
    cluster 2 the same blocks shifted by C/2, so the partitions differ but every key cell (a half
    block) has C/2 > 1 keys, which the sufficient statistics need (a stride-interleaved second
    partition would cut the cells down to single keys)."""
    from proofcheck.setting.instance import ZLaw, make_instance
    C = round(P ** 0.5)
    blocks = [list(range(i, i + C)) for i in range(0, P, C)]
    shifted = [sorted((q + C // 2) % P for q in b) for b in blocks]
    return make_instance(P, [blocks, shifted], z=ZLaw(values=(0.5, 1.5)), gamma=0.5, key_set=key_set,
                         name=f"half-shift-P{P}{key_set}")


def flow_run(inst, horizon: float = FLOW_HORIZON, log_points: int = FLOW_LOG_POINTS) -> Run:
    """The gradient flow of the population loss from Q(0) = 0 (BDF, rtol 1e-6), time in units of eta = 1."""
    cfg = TrainConfig(steps=int(horizon), eta=1.0, gradient="population", solver="BDF", rtol=1e-6, atol=1e-9,
                      log_points=log_points)
    return Run(inst, cfg, eval_samples=2048)


def theorem_runs() -> dict:
    """THM-MAIN-v1 in its regime: population flows on balanced instances with areas of P/2 (kappa = 1) and
    on :func:`half_shift` (kappa = 1/2, exact only at P = 16 here: at P = 64 the count vectors of its
    eight two-class areas exceed 10^10), both key sets.  Quick: balanced P in {16, 64} (the half-shift
    flows cost as much again, and ``verify --budget quick`` of every lemma aims at a minute); full: P in
    {8, 16, 32, 64, 128} and half-shift 16 (at P = 256 the flow leaves the sufficient statistics after 26
    minutes: partway along, one row problem grows past 6e7 count vectors)."""
    from proofcheck.setting.instance import balanced

    def plan(Ps, kappas=(1.0,)):
        return [flow_run(balanced(P, key_set=ks).with_options(name=f"balanced-P{P}{ks}")) for P in Ps
                for ks in ("B", "A")] + [flow_run(half_shift(16, ks)) for ks in ("B", "A") if 0.5 in kappas]
    return {QUICK: plan((16, 64)), FULL: plan((8, 16, 32, 64, 128), (1.0, 0.5))}


def step_agreement_runs() -> dict:
    """GD in the small-step regime next to the flow, for the time to T*(0.2): balanced P = 8.  Key set A
    (T*(0.2) ~ 430): GD at eta = 0.5 (max_logit_step 0.078; 0.156 at eta = 1, outside) and, at the full
    budget, 0.25; full adds key set B (T*(0.2) ~ 7.2e3) at eta = 0.5.  The flows log 300 points
    geometrically (neighbours 2-3% apart), GD every 2 steps."""
    from proofcheck.setting.instance import balanced

    def gd(ks, eta, horizon):
        steps = int(horizon / eta)
        return Run(balanced(8, key_set=ks).with_options(name=f"balanced-P8{ks}"),
                   TrainConfig(steps=steps, eta=eta, gradient="population", log_every=2), eval_samples=2048)

    def fl(ks, horizon):
        return flow_run(balanced(8, key_set=ks).with_options(name=f"balanced-P8{ks}"), horizon, 300)
    return {QUICK: [fl("A", 1000.0), gd("A", 0.5, 1000.0)],
            FULL: [fl("A", 1000.0), gd("A", 0.5, 1000.0), gd("A", 0.25, 1000.0), fl("B", 1.2e4),
                   gd("B", 0.5, 1.2e4)]}

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
    15 negatives per CL anchor.  Quick: 150 Adam steps on minibatches of 128 images (the 16 models train in
    about 8 s on one core; VERIFIED at seeds 0, 1, 2 with JS differences from [0.016, 0.28] up); full:
    1500 steps on 256."""
    from proofcheck.setting.digits import DigitsConfig

    return {QUICK: DigitsConfig(seeds=tuple(range(8)), steps=150, batch=128),
            FULL: DigitsConfig(seeds=tuple(range(8)), steps=1500)}
