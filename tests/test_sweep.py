"""Sweeps on Dask distributed (issue 12): a LocalCluster of 2 processes gives byte-identical
results to one process, a rerun skips the stored tasks, and a scheduler that does not answer
is one error line and exit 2 within a few seconds."""
import json
import time

import pytest

from proofcheck.context import Budget
from proofcheck.engine.discovery import discover
from proofcheck.engine.session import Session
from proofcheck.engine.session import CONNECT_TIMEOUT_S
from proofcheck.engine.sweep import false_alarms, plan, run_sweep
from proofcheck.surface import report
from proofcheck.surface.cli import main

LEMMAS = {lem.id: lem for lem in discover()[0]}
#: fast non-trajectory lemmas of three check kinds (structural with probes, expectation with a probe)
IDS = ["LEM-G3", "LEM-G10", "LEM-G2"]
#: a sweep sized for CI: the equality of the two paths needs cases, not many of them
TINY = Budget("tiny", examples=3, trained_cases=1, shrink_trained=False, seeds=2)


def sweep(folder, jobs, name="no-false-alarm"):
    tasks = plan(name, [LEMMAS[i] for i in IDS], TINY.seeds, TINY)
    ran = []
    done = run_sweep(name, tasks, Session(TINY, device="cpu", report_dir=str(folder)), jobs,
                     on_result=lambda task, data: ran.append(task.name))
    return done, ran


def normalised(done, folder):
    """Each task's result without timings; the report folder (named in counterexample
    paths) is replaced by a placeholder, since the two runs write to two folders."""
    return {name: json.dumps(report.strip_timings(data), sort_keys=True).replace(str(folder), "REPORT_DIR")
            for name, data in done.results.items()}


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    folder = tmp_path_factory.mktemp("single")
    return folder, *sweep(folder, jobs=1)


def test_local_cluster_gives_the_same_results_as_one_process(single, tmp_path):
    folder, one, _ = single
    two, ran = sweep(tmp_path, jobs=2)
    assert two.workers == 2 and one.workers == 0
    assert sorted(ran) == sorted(t.name for t in one.tasks)
    assert normalised(one, folder) == normalised(two, tmp_path)
    assert not false_alarms(one)


def test_a_rerun_skips_stored_tasks_and_redoes_missing_or_torn_ones(single):
    folder, first, _ = single
    again, ran = sweep(folder, jobs=1)
    assert ran == [] and again.ran == 0 and again.results == first.results
    stored = sorted((folder / "sweeps" / "no-false-alarm").glob("*.json"))
    assert len(stored) == len(first.tasks)
    stored[0].unlink()
    stored[1].write_text(stored[1].read_text()[:40])  # a file cut short is not a result
    again, ran = sweep(folder, jobs=1)
    assert sorted(ran) == sorted(p.stem for p in stored[:2]) and again.ran == 2
    assert normalised(again, folder) == normalised(first, folder)  # redone: new timings, same results


def test_unreachable_scheduler_is_one_error_line_and_exit_2(tmp_path, capsys):
    start = time.perf_counter()
    code = main(["sweep", "no-false-alarm", "LEM-G3", "--seeds", "1", "--scheduler", "tcp://127.0.0.1:9",
                 "--report-dir", str(tmp_path)])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("proofcheck: error: cannot reach the Dask scheduler at "
                                               "tcp://127.0.0.1:9: "), err
    assert elapsed < CONNECT_TIMEOUT_S + 15, f"took {elapsed:.0f} s: the connection must time out"
    assert not list((tmp_path / "sweeps" / "no-false-alarm").glob("*.json"))


def test_unknown_sweep_and_id_are_usage_errors(tmp_path, capsys):
    assert main(["sweep", "everything", "--report-dir", str(tmp_path)]) == 2
    assert main(["sweep", "seeds", "NO-SUCH-LEMMA", "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("proofcheck: error: ") for line in err)
    assert "NO-SUCH-LEMMA" in err[1]


def test_time_limit_holds_in_a_worker_thread():
    """Dask runs a task in a thread of the worker, where SIGALRM cannot reach it."""
    import threading

    from proofcheck.engine.session import time_limit
    from proofcheck.errors import CheckTimeout

    outcome = {}

    def spin(seconds):
        start = time.perf_counter()
        try:
            with time_limit(seconds, "spin"):
                while time.perf_counter() - start < 30:
                    pass
            outcome["result"] = "finished"
        except CheckTimeout as exc:
            outcome["result"] = str(exc)
        outcome["elapsed"] = time.perf_counter() - start

    thread = threading.Thread(target=spin, args=(0.5,))
    thread.start()
    thread.join(60)
    assert outcome["result"] == "spin ran past its time limit of 0.5 s" and outcome["elapsed"] < 10
    # a block that ends in time is not struck afterwards by a late alarm
    thread = threading.Thread(target=lambda: outcome.update(late=_quick_then_idle(time_limit)))
    thread.start()
    thread.join(60)
    assert outcome["late"] == "no alarm"


def _quick_then_idle(time_limit):
    with time_limit(0.2, "quick"):
        pass
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline:  # past the limit: an alarm left pending would strike here
        pass
    return "no alarm"
