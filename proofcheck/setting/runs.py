"""A training run as the checks name it: an instance, GD (or gradient-flow) settings and the size of a
held-out evaluation batch, and the regime a trained run was in (issue 11: SPEC DEF-GD's small-step
regime)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
import torch
from proofcheck.setting.instance import Instance
from proofcheck.setting.sampling import Batch
from proofcheck.setting.trainer import TrainConfig, Trajectory, evaluation_batch

#: SPEC DEF-GD asks for eta <= 1/poly(P), the regime where GD follows its gradient flow.  We read it as:
#: no attention logit moves by more than this in one GD step (a change of 0.1 in a logit changes an
#: attention weight by about 10%), measured over the whole run (trainer.logit_step).
SMALL_STEP = 0.1


@dataclass(frozen=True)
class Run:
    """One trajectory a claim is evaluated on.  ``eval_samples``: size of the
    held-out Monte Carlo evaluation batch when the exact expectation is too big
    (drawn with seed ``config.seed + 1``, so it is independent of the batch GD
    trained on when that one is Monte Carlo too)."""

    instance: Instance
    config: TrainConfig
    eval_samples: int = 4096

    def label(self) -> str:
        c = self.config
        grad = "exact E" if self.training_exact else (
            f"fixed MC batch of {c.eval_samples}" if c.gradient == "exact" else f"fresh MC batches of {c.samples}")
        if c.gradient == "population":
            grad = "population E (sufficient statistics)"
        if c.solver:
            return (f"{self.instance.name} (gradient flow, {c.solver} rtol={c.rtol:g}, time {c.eta * c.steps:g}, "
                    f"gradient on {grad})")
        return (f"{self.instance.name} (eta={c.eta:g}, {c.steps} steps, {c.parametrisation}, init {c.init}, "
                f"gradient on {grad})")

    @property
    def training_exact(self) -> bool:
        if self.config.gradient == "population":
            return True
        return self.config.gradient == "exact" and evaluation_batch(self.instance, self.config.eval_samples).exact

    def held_out(self, device: torch.device | str = "cpu") -> Batch:
        return evaluation_batch(self.instance, self.eval_samples, self.config.seed + 1).to(device)

    def describe(self) -> dict:
        return {"instance": self.instance.to_dict(), "config": asdict(self.config), "eval_samples": self.eval_samples,
                "label": self.label()}


def regime(traj: Trajectory) -> dict:
    """The evidence fields every trajectory check records (issue 11 item 2): the parametrisation, how
    exact the loss was (``exactness``), the key set, and either ``eta`` with ``max_logit_step`` (GD) or
    ``solver`` (method, rtol, atol, steps: a gradient flow); ``small_step`` says whether the run is in
    SPEC DEF-GD's small-step regime (a flow, or max_logit_step <= SMALL_STEP)."""
    cfg, meta = traj.config, traj.meta
    pop = meta.get("population") or {}
    methods = sorted(pop.get("methods", {}))
    if cfg.gradient == "population":
        exactness = ("population loss, exact (sufficient statistics)" if methods == ["sufficient-statistics"]
                     else f"population loss by {', '.join(methods) or 'unknown'}")
        if "monte-carlo" in methods:
            exactness += " (a Monte Carlo fallback: not exact)"
    elif cfg.gradient == "exact":
        exactness = ("population loss, exact (every event enumerated)"
                     if evaluation_batch(traj.instance, cfg.eval_samples).exact
                     else f"empirical loss on a fixed Monte Carlo batch of {cfg.eval_samples} images")
    else:
        exactness = f"stochastic: a fresh Monte Carlo batch of {cfg.samples} images per step"
    out = {"parametrisation": cfg.parametrisation, "exactness": exactness, "key_set": traj.instance.key_set}
    if "solver" in meta:
        s = meta["solver"]
        out["solver"] = {k: s[k] for k in ("method", "rtol", "atol", "steps", "nfev")}
        if "reduction" in meta:
            out["solver"]["reduction"] = meta["reduction"]
        out["small_step"] = True
    else:
        step = meta.get("max_logit_step")
        out.update(eta=cfg.eta, max_logit_step=step, small_step=step is not None and step <= SMALL_STEP)
    return out
