"""Links from the reports to ``docs/mathematics.md``, the mathematics every lemma
checks, written for a reader with only the repository: one heading per lemma id,
linked by the anchor GitHub gives it.  The link is to the document in the
repository the package runs from (an absolute ``file:`` address), so it works
wherever the report folder is moved."""
from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

from proofcheck.verdict import LemmaResult

MATHEMATICS = Path(__file__).resolve().parents[2] / "docs" / "mathematics.md"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation but ``-``
    and ``_`` dropped, spaces as ``-`` ("THM-MAIN-v1" -> "thm-main-v1")."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@lru_cache(maxsize=None)
def math_sections(path: Path = MATHEMATICS) -> dict[str, str]:
    """Heading text -> anchor of every heading of docs/mathematics.md (empty when the
    package runs without its repository, e.g. from a wheel)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    return {m.group(1).strip(): github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+)$", text, re.M)}


def math_section(result: LemmaResult) -> str | None:
    """The heading of docs/mathematics.md about this lemma: its id, else the SPEC
    item its provenance names (a user lemma restating LEM-G5 links LEM-G5)."""
    sections = math_sections()
    candidates = [result.lemma_id] + re.findall(r"[A-Z][A-Z0-9]*(?:-[A-Za-z0-9.]+)+", result.provenance.get("item", ""))
    return next((c for c in candidates if c in sections), None)


def math_link(result: LemmaResult | None = None) -> str:
    """A link to the lemma's section of docs/mathematics.md (or to the document)."""
    if not math_sections():
        return '<span class="muted">docs/mathematics.md is not beside this installation</span>'
    uri = MATHEMATICS.as_uri()
    section = math_section(result) if result is not None else None
    if section is None:
        missing = "" if result is None else " (no section for this lemma)"
        return f'<a href="{html.escape(uri)}">docs/mathematics.md</a>{missing}'
    anchor = math_sections()[section]
    return f'<a href="{html.escape(uri)}#{anchor}">docs/mathematics.md &sect; {html.escape(section)}</a>'
