"""Every lemma (built-in, plus --proofcheck-lemmas PATH) as its own test item at
the quick budget: ``python -m pytest -q`` checks the lemmas.  A REFUTED or ERROR
lemma fails with its summary; INCONCLUSIVE skips with the reason."""
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

from sample_lemmas import FALSE_FORMS, write_lemma

from proofcheck.surface.pytest_plugin import check_lemma, parametrize_lemmas


def pytest_generate_tests(metafunc):
    parametrize_lemmas(metafunc)


def test_lemma(lemma, request):
    check_lemma(lemma, request.config)


def test_pytest_runs_each_lemma_as_an_item_and_fails_with_its_summary(tmp_path):
    """The plugin end to end: options registered (-p stands in for the installed
    entry point), one item per lemma, a planted false lemma fails with its summary."""
    root = Path(__file__).resolve().parent.parent
    write_lemma(tmp_path / "user", "good.py")
    write_lemma(tmp_path / "user", "planted.py", lemma_id="USER-G5-FALSE", closed=FALSE_FORMS["z_squared"])
    (tmp_path / "test_user_lemmas.py").write_text(textwrap.dedent('''
        from proofcheck.surface.pytest_plugin import check_lemma, parametrize_lemmas

        def pytest_generate_tests(metafunc):
            parametrize_lemmas(metafunc)

        def test_lemma(lemma, request):
            check_lemma(lemma, request.config)
    '''))
    # the installed pytest11 entry point loads the plugin; -p stands in for it when not installed
    installed = any(ep.value == "proofcheck.surface.pytest_plugin" for ep in entry_points(group="pytest11"))
    load = [] if installed else ["-p", "proofcheck.surface.pytest_plugin"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", *load, "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "test_user_lemmas.py",
                           "--proofcheck-no-builtin", "--proofcheck-lemmas", "user", "--proofcheck-seed", "1"],
                          cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True, text=True, timeout=240)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
    assert "test_lemma[USER-G5-FALSE]" in done.stdout and "USER-G5-FALSE [D] REFUTED" in done.stdout
    assert "counterexample:" in done.stdout and "--seed 1" in done.stdout
    assert "Traceback" not in done.stdout
