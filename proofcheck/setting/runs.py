"""A training run as the checks name it: an instance, GD settings and the size of a held-out
evaluation batch."""
from __future__ import annotations

from dataclasses import asdict, dataclass
import torch
from proofcheck.setting.instance import Instance
from proofcheck.setting.sampling import Batch
from proofcheck.setting.trainer import TrainConfig, evaluation_batch


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
        return (f"{self.instance.name} (eta={c.eta:g}, {c.steps} steps, {c.parametrisation}, init {c.init}, "
                f"gradient on {grad})")

    @property
    def training_exact(self) -> bool:
        return self.config.gradient == "exact" and evaluation_batch(self.instance, self.config.eval_samples).exact

    def held_out(self, device: torch.device | str = "cpu") -> Batch:
        return evaluation_batch(self.instance, self.eval_samples, self.config.seed + 1).to(device)

    def describe(self) -> dict:
        return {"instance": self.instance.to_dict(), "config": asdict(self.config), "eval_samples": self.eval_samples,
                "label": self.label()}
