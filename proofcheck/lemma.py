"""The lemma format (docs/lemma-format.md): declaration, discovery and running.

A lemma file is a Python file that defines ``LEMMA = Lemma(...)``.  A lemma has
an id, a title, its :class:`Provenance` (SPEC item and tag [V]/[R]/[D]), named
:class:`Assumption` s, a SymPy ``statement`` for display, and ``claims``: the
checkable parts of the statement, each an instance of a check kind from
``proofcheck`` (one module per kind).  Running a lemma runs every claim's
checks; a claim that raises becomes an ERROR for that lemma only.
"""
from __future__ import annotations

import importlib.util
import re
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import sympy

from .errors import CheckTimeout, LemmaFileError, ProofcheckError
from .verdict import CheckResult, LemmaResult, Verdict, combine

TAGS = {"V": "verified from the paper's public descriptions", "R": "reconstructed by SPEC",
        "D": "derived by SPEC and checked"}
ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Za-z0-9.]+)+$")
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "lemmas"


@dataclass(frozen=True)
class Budget:
    """How hard the checks try.  ``quick``: CI-sized (every built-in lemma in
    under a minute on 2 cores); ``full``: the thorough run."""

    name: str
    examples: int          # Hypothesis examples per property
    seeds: int             # independent seeds for seed sweeps
    train_scale: float     # multiplier on trajectory step budgets
    mc_samples: int        # Monte Carlo sample size where exact is infeasible

    @classmethod
    def get(cls, name: str) -> "Budget":
        if name not in BUDGETS:
            raise ProofcheckError(f"unknown budget {name!r}; choose quick or full")
        return BUDGETS[name]


BUDGETS = {"quick": Budget("quick", examples=8, seeds=3, train_scale=1.0, mc_samples=4096),
           "full": Budget("full", examples=60, seeds=20, train_scale=4.0, mc_samples=65536)}


@dataclass
class CheckContext:
    """What a claim's check gets: budget, seed, device, where to cache and to
    put plots (``plot_dir``; None means do not plot)."""

    budget: Budget = BUDGETS["quick"]
    seed: int = 0
    device: str = "auto"
    cache_dir: Path | None = None
    plot_dir: Path | None = None
    timeout: float | None = None
    lemma_id: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where a lemma comes from: SPEC item (e.g. "SPEC §8 LEM-G5"), provenance
    tag V/R/D, paper version(s), and the paper item it stands for if known."""

    item: str
    tag: str
    paper: str = "v1-v3"
    paper_item: str = "number not recovered (SPEC §0)"

    def __post_init__(self):
        if self.tag not in TAGS:
            raise LemmaFileError(f"provenance tag must be one of {sorted(TAGS)}, got {self.tag!r}")

    def to_dict(self) -> dict:
        return {"item": self.item, "tag": self.tag, "tag_meaning": TAGS[self.tag], "paper": self.paper,
                "paper_item": self.paper_item}


@dataclass(frozen=True)
class Assumption:
    """A named, checkable assumption.  ``holds(case) -> bool`` decides it on a
    drawn case; ``strategy()`` returns a Hypothesis strategy of cases that
    satisfy it (and the lemma's other assumptions); ``violate`` (optional)
    maps a satisfying case to one that violates just this assumption."""

    name: str
    description: str
    holds: Callable[[Any], bool]
    strategy: Callable[[], Any] | None
    violate: Callable[[Any], Any] | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "probed": self.violate is not None}


class Claim:
    """Base class of the check kinds.  Subclasses implement :meth:`check`."""

    kind = "claim"
    #: one line saying what is claimed
    label: str = ""
    #: the SymPy expression that mutation testing (issue: checker adequacy) acts on;
    #: None for claims whose statement is not a single expression
    expression = None
    #: the symbols ``expression`` may use; None means :data:`proofcheck.symbols.VOCABULARY`
    vocabulary = None

    def check(self, lemma: "Lemma", ctx: CheckContext) -> list[CheckResult]:  # pragma: no cover - abstract
        raise NotImplementedError

    def mutated(self, expression) -> "Claim":
        """A copy of this claim with ``expression`` in place of :attr:`expression`
        (and, for relations, the relation it encodes).  Used to plant wrong lemmas."""
        raise NotImplementedError(f"{type(self).__name__} does not support mutation")

    def describe(self) -> str:
        return self.label


@dataclass
class Lemma:
    id: str
    title: str
    provenance: Provenance
    statement: Any
    claims: Sequence[Claim]
    assumptions: Sequence[Assumption] = ()
    notes: str = ""
    #: a known finding: the verdict this lemma is known to get (e.g. "REFUTED"
    #: for a reconstructed [R] form that does not hold in our model) and why.
    #: The verdict is still computed and shown; only a *different* verdict
    #: counts as a failure (pytest: strict xfail).  Never set it to hide a bug.
    expect: str | None = None
    expect_reason: str = ""
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not isinstance(self.id, str) or not ID_PATTERN.match(self.id):
            raise LemmaFileError(f"lemma id must look like 'LEM-G5' or 'THM-MAIN-v1', got {self.id!r}")
        if not isinstance(self.title, str) or not self.title.strip():
            raise LemmaFileError(f"lemma {self.id}: title must be a non-empty string")
        if not isinstance(self.provenance, Provenance):
            raise LemmaFileError(f"lemma {self.id}: provenance must be a proofcheck.lemma.Provenance")
        stmts = self.statement if isinstance(self.statement, (list, tuple)) else [self.statement]
        for s in stmts:
            if not isinstance(s, (sympy.Basic, sympy.MatrixBase)):
                raise LemmaFileError(f"lemma {self.id}: statement must be a SymPy expression, got {type(s).__name__}")
        if not self.claims:
            raise LemmaFileError(f"lemma {self.id}: needs at least one claim to check")
        for c in self.claims:
            if not isinstance(c, Claim):
                raise LemmaFileError(f"lemma {self.id}: claim {c!r} is not a proofcheck check kind")
            unknown = unknown_symbols(c.expression, c.vocabulary)
            if unknown:
                raise LemmaFileError(f"lemma {self.id}: {c.kind} claim uses unknown symbol(s) {', '.join(unknown)} "
                                     "(see proofcheck.symbols for the vocabulary)")
        if self.expect is not None:
            if self.expect not in {v.value for v in Verdict} - {"ERROR"}:
                raise LemmaFileError(f"lemma {self.id}: expect must be PROVED, VERIFIED, REFUTED or INCONCLUSIVE, "
                                     f"got {self.expect!r}")
            if not self.expect_reason.strip():
                raise LemmaFileError(f"lemma {self.id}: expect needs an expect_reason saying what the finding is")
        for a in self.assumptions:
            if not isinstance(a, Assumption):
                raise LemmaFileError(f"lemma {self.id}: assumption {a!r} is not a proofcheck.lemma.Assumption")
            if a.strategy is None:
                raise LemmaFileError(f"lemma {self.id}: assumption {a.name!r} has no strategy")

    @property
    def tag(self) -> str:
        return self.provenance.tag

    @property
    def kinds(self) -> list[str]:
        return sorted({c.kind for c in self.claims})

    def statement_text(self) -> str:
        stmts = self.statement if isinstance(self.statement, (list, tuple)) else [self.statement]
        return "\n".join(sympy.pretty(s, use_unicode=True, wrap_line=False) for s in stmts)


def unknown_symbols(expr, vocabulary=None) -> list[str]:
    """Names of free symbols of ``expr`` outside the vocabulary (sorted); an
    indexed symbol such as z[i] counts by its base ``z``."""
    if expr is None or not isinstance(expr, sympy.Basic):
        return []
    from . import symbols

    allowed = {str(v) for v in (symbols.VOCABULARY if vocabulary is None else vocabulary)}
    names = {str(s) for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    return sorted(names - allowed)


# -- loading and discovery -------------------------------------------------------------

def load_lemma_file(path: str | Path) -> Lemma:
    """Load one lemma file; every failure is a one-line :class:`LemmaFileError`."""
    path = Path(path)
    name = f"proofcheck_lemma_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LemmaFileError(f"{path}: not a Python file")
    try:
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise LemmaFileError(f"{path}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except FileNotFoundError:
        raise LemmaFileError(f"{path}: no such lemma file") from None
    except ProofcheckError as exc:
        raise LemmaFileError(f"{path}: {exc}") from None
    except Exception as exc:  # a lemma file is user code: any failure is reported, not raised
        raise LemmaFileError(f"{path}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
    lemma = getattr(module, "LEMMA", None)
    if lemma is None:
        raise LemmaFileError(f"{path}: defines no LEMMA (a lemma file must set LEMMA = Lemma(...))")
    if not isinstance(lemma, Lemma):
        raise LemmaFileError(f"{path}: LEMMA is a {type(lemma).__name__}, not a proofcheck.lemma.Lemma")
    lemma.source = str(path)
    return lemma


def lemma_files(paths: Iterable[str | Path]) -> list[Path]:
    """The lemma files under the given files/folders (``lem_*.py``, ``thm_*.py``
    or any ``*.py`` not starting with ``_``), sorted for a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.glob("*.py") if not f.name.startswith("_")))
        elif p.exists():
            out.append(p)
        else:
            raise LemmaFileError(f"{p}: no such lemma file or folder")
    return out


def discover(extra: Iterable[str | Path] = (), builtin: bool = True) -> tuple[list[Lemma], list[LemmaFileError]]:
    """Load the built-in lemmas and any extra files/folders.  Returns the good
    lemmas and the errors (bad files, duplicate ids); one bad file never stops
    the others from loading."""
    lemmas: list[Lemma] = []
    errors: list[LemmaFileError] = []
    seen: dict[str, str] = {}
    sources = ([BUILTIN_DIR] if builtin else []) + list(extra)
    files: list[Path] = []
    for src in sources:
        try:
            files.extend(lemma_files([src]))
        except LemmaFileError as exc:
            errors.append(exc)
    for f in files:
        try:
            lemma = load_lemma_file(f)
        except LemmaFileError as exc:
            errors.append(exc)
            continue
        if lemma.id in seen:
            errors.append(LemmaFileError(f"{f}: duplicate lemma id {lemma.id} (already defined in {seen[lemma.id]})"))
            continue
        seen[lemma.id] = str(f)
        lemmas.append(lemma)
    return lemmas, errors


# -- running ----------------------------------------------------------------------

class _Alarm(BaseException):
    """The time-limit signal inside a check.  A BaseException, so that no
    ``except Exception`` in a check -- Hypothesis's test runner included, which
    would replay the example and report a FlakyFailure (an ERROR) -- can catch
    it; :func:`time_limit` turns it into :class:`CheckTimeout` at its boundary."""


def _is_alarm(exc: BaseException) -> bool:
    """The alarm itself, or an exception group holding it (Hypothesis groups the
    failures of several explicit examples)."""
    return isinstance(exc, _Alarm) or any(_is_alarm(e) for e in getattr(exc, "exceptions", ()))


@contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`CheckTimeout` after ``seconds`` (main thread, POSIX only;
    elsewhere the limit is not enforced and the context says so by doing nothing)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise _Alarm()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except BaseException as exc:
        if _is_alarm(exc):
            raise CheckTimeout(f"{what} ran past its time limit of {seconds:g} s") from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_lemma(lemma: Lemma, ctx: CheckContext, versions: dict | None = None) -> LemmaResult:
    """Run every claim of a lemma.  A claim that raises or times out becomes one
    ERROR / INCONCLUSIVE check; the other claims still run."""
    ctx.lemma_id = lemma.id
    start = time.perf_counter()
    checks: list[CheckResult] = []
    for claim in lemma.claims:
        t0 = time.perf_counter()
        try:
            with time_limit(ctx.timeout, f"{lemma.id} {claim.kind} check"):
                results = claim.check(lemma, ctx)
        except CheckTimeout as exc:
            results = [CheckResult(claim.kind, claim.describe() or claim.kind, Verdict.INCONCLUSIVE, str(exc),
                                   evidence={"reason": "timeout", "timeout_s": ctx.timeout}, seed=ctx.seed)]
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failing check is reported for this lemma only
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            results = [CheckResult(claim.kind, claim.describe() or claim.kind, Verdict.ERROR,
                                   f"the check raised {tb}", evidence={"exception": tb}, seed=ctx.seed)]
        for r in results:
            r.timing_s = time.perf_counter() - t0 if len(results) == 1 else r.timing_s
        checks.extend(results)
    verdict = combine([c.verdict for c in checks if c.affects_verdict])
    return LemmaResult(lemma_id=lemma.id, title=lemma.title, provenance=lemma.provenance.to_dict(), verdict=verdict,
                       checks=checks, budget=ctx.budget.name, seed=ctx.seed, statement=lemma.statement_text(),
                       assumptions=[a.to_dict() for a in lemma.assumptions], source=lemma.source,
                       versions=versions or {}, timing_s=time.perf_counter() - start,
                       expected={"verdict": lemma.expect, "reason": lemma.expect_reason} if lemma.expect else None)
