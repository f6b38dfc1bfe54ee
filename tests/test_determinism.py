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


def test_draws_do_not_depend_on_the_modules_imported_before(tmp_path, monkeypatch):
    """Hypothesis mixes literal constants from the source of every local module in
    sys.modules into its draws; a search must not see them (LEM-G10's evidence
    differed with --jobs and after a plotting trajectory check for this reason)."""
    from hypothesis import strategies as st
    from proofcheck.engine.search import Outcome, search_cases

    class Drawn(tuple):
        def to_dict(self):  # what the search keys a case by
            return list(self)

    def drawn():
        seen = []
        search_cases(st.tuples(st.floats(-1e9, 1e9), st.integers(-10**9, 10**9)).map(Drawn),
                     lambda case: seen.append(case) or Outcome(True, 1.0, 1.0, 1), 60, 5)
        return seen

    before = drawn()
    constants = ", ".join(f"{0.5 + n * 1.25e6!r}, {7 + n * 104729}" for n in range(200))
    (tmp_path / "planted_constants.py").write_text(f"VALUES = [{constants}]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import planted_constants  # noqa: F401  (a new local module full of constants Hypothesis would draw)
    assert drawn() == before


LEM_G10_AFTER = """
import json, sys
from proofcheck.engine.discovery import discover
from proofcheck.engine.session import Session
from proofcheck.surface import report
lemmas = {lem.id: lem for lem in discover()[0]}
session = Session(seed=3, device="cpu", report_dir=sys.argv[1])
for lemma_id in sys.argv[2:]:
    result = session.run_lemma(lemmas[lemma_id])
print(json.dumps(report.strip_timings(result.to_dict()), sort_keys=True).replace(sys.argv[1], "REPORT_DIR"))
"""


def test_lem_g10_alone_and_after_a_plotting_trajectory_check_give_the_same_json(tmp_path):
    def run(*ids):
        folder = tmp_path / "-".join(ids)
        done = subprocess.run([sys.executable, "-c", LEM_G10_AFTER, str(folder), *ids], capture_output=True,
                              text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert done.returncode == 0, done.stderr
        return done.stdout

    after = run("LEM-G5-TRAJ", "LEM-G10")
    assert list((tmp_path / "LEM-G5-TRAJ-LEM-G10" / "plots").rglob("*.png")), "the trajectory check must plot"
    assert run("LEM-G10") == after
