"""Determinism (robustness issue): two runs of ``proofcheck verify`` with the
same seed and budget give byte-identical JSON reports apart from timing
fields, on the CPU, for built-in lemmas of every check kind, each run from a
cold cache (a cache must not change a result)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from proofcheck.surface import report

# one lemma per kind of check: symbolic + numeric identity, inequality with
# probes, structural, trajectory (with plots)
IDS = ["LEM-G5", "LEM-G10", "LEM-G5-TRAJ", "THM-DIVERSITY"]
ROOT = Path(__file__).resolve().parent.parent


def reports(folder, seed):
    """Reports of a cold run in its own process, as a user runs it."""
    shutil.rmtree(folder, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "proofcheck", "verify", *IDS, "--seed", str(seed),
                           "--report-dir", str(folder), "--device", "cpu"], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr
    return {i: (folder / f"{i}.json").read_text() for i in IDS}


def stripped(text):
    return json.dumps(report.strip_timings(json.loads(text)), sort_keys=True)


def test_same_seed_gives_byte_identical_json_apart_from_timings(tmp_path):
    # the same folder both times: paths recorded in reports (counterexample files) are then equal too
    first, second = reports(tmp_path / "r", 3), reports(tmp_path / "r", 3)
    for i in IDS:
        assert stripped(first[i]) == stripped(second[i]), i
    other = reports(tmp_path / "r", 4)
    assert any(stripped(first[i]) != stripped(other[i]) for i in IDS), "the seed must reach the checks"
