"""What a run gives every check: its budget, and a frozen context (seed, device,
where the caches and plots go, time limit).  One layout of the report folder
(:class:`ReportLayout`) serves the CLI, the pytest plugin and adequacy alike."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from proofcheck.errors import ProofcheckError


@dataclass(frozen=True)
class Budget:
    """How hard the checks try.  Trajectory claims key their runs by budget
    objects (``{QUICK: [...], FULL: [...]}``), so a budget that plans no run is
    named in the INCONCLUSIVE reason rather than matched by a string."""

    name: str
    #: Hypothesis examples per property (case searches, probes)
    examples: int
    #: cases a trajectory probe trains (each one trains a model, so far fewer than ``examples``)
    trained_cases: int
    #: whether a trajectory probe shrinks a failing case (every shrink step trains again)
    shrink_trained: bool
    #: independent seeds of the no-false-alarm sweep
    seeds: int

    @classmethod
    def get(cls, name: str) -> "Budget":
        if name not in BUDGETS:
            raise ProofcheckError(f"unknown budget {name!r}; choose {' or '.join(sorted(BUDGETS))}")
        return BUDGETS[name]


#: CI-sized: every built-in lemma in about a minute on 2 cores
QUICK = Budget("quick", examples=8, trained_cases=2, shrink_trained=False, seeds=3)
#: the thorough run
FULL = Budget("full", examples=60, trained_cases=12, shrink_trained=True, seeds=20)
BUDGETS = {b.name: b for b in (QUICK, FULL)}

#: the cache folders under a cache root, one per kind of cached result
CACHE_FOLDERS = ("trajectories", "symbolic", "counterexamples", "decisions")


@dataclass(frozen=True)
class CheckContext:
    """What a claim's check gets: budget, seed, device, the cache root
    (``cache_dir``; None: nothing is cached) and the plot folder (``plot_dir``;
    None: do not plot).  Frozen: the session derives a per-lemma copy."""

    budget: Budget = QUICK
    seed: int = 0
    device: str = "auto"
    cache_dir: Path | None = None
    plot_dir: Path | None = None
    timeout: float | None = None
    lemma_id: str = ""

    def cache(self, what: str) -> Path | None:
        """The cache folder for one kind of result (:data:`CACHE_FOLDERS`), or None."""
        if what not in CACHE_FOLDERS:
            raise ValueError(f"unknown cache folder {what!r}; one of {CACHE_FOLDERS}")
        return None if self.cache_dir is None else Path(self.cache_dir) / what


@dataclass(frozen=True)
class ReportLayout:
    """Where a run writes: ``ID.json``, ``ID.html``, ``plots/ID/`` and the cache
    root ``.cache/`` under one report folder."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(os.fspath(self.root)))

    def json_path(self, lemma_id: str) -> Path:
        return self.root / f"{lemma_id}.json"

    def html_path(self, lemma_id: str) -> Path:
        return self.root / f"{lemma_id}.html"

    def plot_dir(self, lemma_id: str) -> Path:
        return self.root / "plots" / lemma_id

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache"
