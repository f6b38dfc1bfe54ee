"""Tolerances: a bound and the reason for it, always together (the report prints both)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from proofcheck.errors import ProofcheckError

#: float64 unit roundoff, the unit every error model in proofcheck counts in
EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Tolerance:
    """How far a compared value may be off, and why.  ``bounds`` are the named
    numbers or formulas of the bound in the order given (``atol``, ``rtol``,
    ``per_entry`` for a bound that differs per entry, ...); ``justification``
    is the error model or the claim's own threshold they come from.  Every
    CheckResult's tolerance passes through this type, so none is stated
    without its reason."""

    justification: str
    bounds: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if not isinstance(self.justification, str) or not self.justification.strip():
            raise ProofcheckError(f"a tolerance needs its justification, got {self.justification!r}")

    @classmethod
    def of(cls, spec: "Tolerance | dict | None") -> "Tolerance | None":
        """A Tolerance from a check's ``{"atol": .., "rtol": .., "justification": ..}``."""
        if spec is None or isinstance(spec, Tolerance):
            return spec
        if not isinstance(spec, dict) or "justification" not in spec:
            raise ProofcheckError(f"a tolerance needs its justification, got {spec!r}")
        return cls(spec["justification"], tuple((k, v) for k, v in spec.items() if k != "justification"))

    def to_dict(self) -> dict:
        return {**dict(self.bounds), "justification": self.justification}
