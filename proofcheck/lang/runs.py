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
