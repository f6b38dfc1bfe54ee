"""The lemma format (docs/lemma-format.md): declaration, discovery and running.

A lemma file is a Python file that defines ``LEMMA = Lemma(...)``.  A lemma has
an id, a title, its :class:`Provenance` (SPEC item and tag [V]/[R]/[D]), named
:class:`Assumption` s, a SymPy ``statement`` for display, and ``claims``: the
checkable parts of the statement, each an instance of a check kind from
``proofcheck`` (one module per kind).  Running a lemma runs every claim's
checks; a claim that raises becomes an ERROR for that lemma only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import sympy

from proofcheck.errors import LemmaFileError
from proofcheck.verdict import CheckResult, Verdict
from proofcheck.context import CheckContext

TAGS = {"V": "verified from the paper's public descriptions", "R": "reconstructed by SPEC",
        "D": "derived by SPEC and checked"}
ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Za-z0-9.]+)+$")
#: the built-in lemma files (lemmas/ beside the package)
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "lemmas"


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
    maps a satisfying case to one that violates just this assumption;
    ``formula`` (optional) states it as a SymPy relation, typeset in the HTML
    report beside the description (``holds`` decides it, not the formula)."""

    name: str
    description: str
    holds: Callable[[Any], bool]
    strategy: Callable[[], Any] | None
    violate: Callable[[Any], Any] | None = None
    formula: Any = None

    def to_dict(self) -> dict:
        d = {"name": self.name, "description": self.description, "probed": self.violate is not None}
        return d if self.formula is None else {**d, "formula": str(self.formula)}


class Claim:
    """Base class of the check kinds.  Subclasses implement :meth:`check`."""

    kind = "claim"
    #: one line saying what is claimed
    label: str = ""
    #: the SymPy expression that mutation testing (issue: checker adequacy) acts on;
    #: None for claims whose statement is not a single expression
    expression = None
    #: the symbols ``expression`` may use; None means :data:`proofcheck.lang.symbols.VOCABULARY`
    vocabulary = None

    def check(self, lemma: "Lemma", ctx: CheckContext) -> list[CheckResult]:  # pragma: no cover - abstract
        raise NotImplementedError

    def mutated(self, expression) -> "Claim":
        """A copy of this claim with ``expression`` in place of :attr:`expression`
        (and, for relations, the relation it encodes).  Used to plant wrong lemmas."""
        raise NotImplementedError(f"{type(self).__name__} does not support mutation")

    def describe(self) -> str:
        return self.label


#: check kinds whose claims train models along the way (trajectory claims, the MAE-versus-CL comparison)
TRAINING_KINDS = ("trajectory", "contrast")


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
            raise LemmaFileError(f"lemma {self.id}: provenance must be a proofcheck.lang.lemma.Provenance")
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
                                     "(see proofcheck.lang.symbols for the vocabulary)")
        if self.expect is not None:
            if self.expect not in {v.value for v in Verdict} - {"ERROR"}:
                raise LemmaFileError(f"lemma {self.id}: expect must be PROVED, VERIFIED, REFUTED or INCONCLUSIVE, "
                                     f"got {self.expect!r}")
            if not self.expect_reason.strip():
                raise LemmaFileError(f"lemma {self.id}: expect needs an expect_reason saying what the finding is")
        for a in self.assumptions:
            if not isinstance(a, Assumption):
                raise LemmaFileError(f"lemma {self.id}: assumption {a!r} is not a proofcheck.lang.lemma.Assumption")
            if a.strategy is None:
                raise LemmaFileError(f"lemma {self.id}: assumption {a.name!r} has no strategy")

    @property
    def tag(self) -> str:
        return self.provenance.tag

    @property
    def trains(self) -> bool:
        """Whether a check of this lemma trains a model (its cost and its seeds are those of the runs)."""
        return any(c.kind in TRAINING_KINDS for c in self.claims)

    @property
    def trains(self) -> bool:
        """Whether a check of this lemma trains a model (its cost and its seeds are those of the runs)."""
        return any(c.kind in TRAINING_KINDS for c in self.claims)

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
    from proofcheck.lang import symbols

    allowed = {str(v) for v in (symbols.VOCABULARY if vocabulary is None else vocabulary)}
    names = {str(s) for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    return sorted(names - allowed)
