"""Discovery of lemma files: load one file (every failure is one line naming the file), or every
lemma file of the built-in folder and of the paths a user gives."""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable, ContextManager, Iterable
from proofcheck.errors import CheckTimeout, LemmaFileError, ProofcheckError
from proofcheck.lang.lemma import BUILTIN_DIR, Lemma


#: ``limit(what)``: a context that raises :class:`CheckTimeout` when its body runs too long
#: (:func:`proofcheck.engine.session.time_limit` with the run's ``--timeout``)
ImportLimit = Callable[[str], ContextManager]


def load_lemma_file(path: str | Path, limit: ImportLimit | None = None) -> Lemma:
    """Load one lemma file, its import inside ``limit``; every failure is a one-line
    :class:`LemmaFileError`."""
    path = Path(path)
    name = f"proofcheck_lemma_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LemmaFileError(f"{path}: not a Python file")
    loaded = set(sys.modules)
    try:
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        with limit("its import") if limit else contextlib.nullcontext():
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise LemmaFileError(f"{path}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except FileNotFoundError:
        raise LemmaFileError(f"{path}: no such lemma file") from None
    except ProofcheckError as exc:
        if isinstance(exc, CheckTimeout):  # what the cut import was loading is half-initialised: forget it
            for half in set(sys.modules) - loaded:
                sys.modules.pop(half, None)
        raise LemmaFileError(f"{path}: {exc}") from None
    except Exception as exc:  # a lemma file is user code: any failure is reported, not raised
        raise LemmaFileError(f"{path}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
    lemma = getattr(module, "LEMMA", None)
    if lemma is None:
        raise LemmaFileError(f"{path}: defines no LEMMA (a lemma file must set LEMMA = Lemma(...))")
    if not isinstance(lemma, Lemma):
        raise LemmaFileError(f"{path}: LEMMA is a {type(lemma).__name__}, not a proofcheck.lang.lemma.Lemma")
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


def discover(extra: Iterable[str | Path] = (), builtin: bool = True, limit: ImportLimit | None = None
             ) -> tuple[list[Lemma], list[LemmaFileError]]:
    """Load the built-in lemmas and any extra files/folders, each import inside
    ``limit``.  Returns the good lemmas and the errors (bad files, duplicate ids);
    one bad file never stops the others from loading."""
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
            lemma = load_lemma_file(f, limit)
        except LemmaFileError as exc:
            errors.append(exc)
            continue
        if lemma.id in seen:
            errors.append(LemmaFileError(f"{f}: duplicate lemma id {lemma.id} (already defined in {seen[lemma.id]})"))
            continue
        seen[lemma.id] = str(f)
        lemmas.append(lemma)
    return lemmas, errors
