"""Tolerances: a number and the reason for it, always together (the report prints both)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: float64 unit roundoff, the unit every error model in proofcheck counts in
EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Tolerance:
    """How far a compared value may be off and why: ``atol`` absolute, ``rtol``
    relative (to the reference's magnitude), ``justification`` the error model
    or the claim's own threshold it comes from."""

    atol: float
    justification: str
    rtol: float = 0.0

    def to_dict(self) -> dict:
        return {"atol": float(self.atol), "rtol": float(self.rtol), "justification": self.justification}
