"""Cached results of pure computations (symbolic proofs, exact decisions) on disk.

A result is stored under a folder of the cache root (``CheckContext.cache``) in
a JSON file named by the sha256 of everything it depends on, so a change of
statement, SymPy version or cache version is a new entry, never a stale hit.
An unreadable entry is a cold cache, never an error."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from proofcheck.io import atomic_write_text


def entry(folder: Path | None, **identity) -> Path | None:
    """The file of the result identified by ``identity`` (JSON-able values), or None without a folder."""
    if folder is None:
        return None
    key = json.dumps(identity, sort_keys=True, default=str)
    return Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def load(path: Path | None) -> dict | None:
    """The stored result, or None (no folder, no entry, or an unreadable one)."""
    if path is None or not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(path: Path | None, data: dict) -> None:
    if path is not None:
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True))
