"""Typeset mathematics for the HTML reports: presentation MathML from SymPy's own
printer, which current browsers render with no network and no JavaScript.

Two things of SymPy 1.14's printer are fixed here rather than worked around in
every caller:

- it writes the text of its token elements raw (it patches minidom so that its
  entities such as ``&#947;`` survive), so ``x < 1`` comes out as ``<mo><</mo>``
  and a symbol named ``Pr[A >= 1 | p avoidable]`` breaks the page.  We serialise
  the printer's DOM ourselves, decoding its entities and escaping every text;
- it splits a symbol name at each ``_`` and ``^``, which turns the vocabulary's
  descriptive names (``-dL/dPhi_{p->v_{k,j}}``, ``phi_(p->v_(k,1))``) into
  fragments.  :meth:`ReportPrinter._print_Symbol` reads ``base_{sub}`` and
  ``base_(sub)`` with nested groups instead, and Greek names inside them.
"""
from __future__ import annotations

import html
import math
import re
from xml.dom.minidom import Element, Text

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.mathml import MathMLPresentationPrinter

#: what the vocabulary spells in ASCII inside a name, and the symbol it means
WORDS = {"->": "\u2192", ">=": "\u2265", "<=": "\u2264", "!=": "\u2260", "infinity": "\u221e", "Ups": "\u03a5"}
GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "pi", "sigma", "tau",
         "phi", "psi", "Phi", "Psi", "Gamma", "Delta", "Sigma", "Ups")
GREEK_WORD = re.compile(r"(?<![A-Za-z])(d?)(" + "|".join(sorted(GREEK, key=len, reverse=True)) + r")(?![A-Za-z])")
OPEN, CLOSE = "{([", "})]"


def _words(text: str) -> str:
    if text.startswith("-"):  # a name such as -dL/dPhi: a minus sign, not a hyphen
        text = "\u2212" + text[1:]
    for ascii_, symbol in WORDS.items():
        text = text.replace(ascii_, symbol)

    def greek(m):
        name = m.group(2)
        return m.group(1) + (WORDS.get(name) or sympy.pretty(sympy.Symbol(name), use_unicode=True))
    return GREEK_WORD.sub(greek, text)


def _group_end(name: str, start: int) -> int:
    """Index just past the bracket group opening at ``start``."""
    depth = 0
    for i in range(start, len(name)):
        depth += (name[i] in OPEN) - (name[i] in CLOSE)
        if depth == 0:
            return i + 1
    return len(name)


def _split_name(name: str) -> tuple[str, str | None, str]:
    """(base, subscript, rest) at the first ``_`` outside brackets: ``a_{b}c`` gives
    ("a", "b", "c"), so does ``a_(b)c``; ``a_b`` takes the word b."""
    depth = 0
    for i, ch in enumerate(name):
        depth += (ch in OPEN) - (ch in CLOSE)
        if ch == "_" and depth == 0 and i + 1 < len(name):
            j = i + 1
            if name[j] in OPEN:
                end = _group_end(name, j)
                sub = name[j + 1:end - 1]
            else:
                end = j + len(re.match(r"[A-Za-z0-9*']*", name[j:]).group(0) or name[j])
                sub = name[j:end]
            return name[:i], sub, name[end:]
    return name, None, ""


class ReportPrinter(MathMLPresentationPrinter):
    """SymPy's presentation printer, with descriptive symbol names read as above."""

    def _token(self, tag: str, text: str) -> Element:
        node = self.dom.createElement(tag)
        node.appendChild(self.dom.createTextNode(text))
        return node

    def _name(self, name: str) -> Element:
        base, sub, rest = _split_name(name)
        node = self._token("mi", _words(base))
        if sub is not None:
            script = self.dom.createElement("msub")
            script.appendChild(node)
            script.appendChild(self._name(sub))
            node = script
        if not rest:
            return node
        row = self.dom.createElement("mrow")
        row.appendChild(node)
        row.appendChild(self._name(rest))
        return row

    def _print_Function(self, e):
        if not isinstance(e, AppliedUndef):
            return super()._print_Function(e)
        row = self.dom.createElement("mrow")  # a named function of the vocabulary: its name read as a symbol's
        row.appendChild(self._name(e.func.__name__))
        row.appendChild(self._paren_comma_separated(*e.args))
        return row

    def _print_KroneckerDelta(self, e):
        node = self.dom.createElement("msub")
        node.appendChild(self._token("mi", "\u03b4"))
        args = self._paren_comma_separated(*e.args)
        args.removeChild(args.firstChild)
        args.removeChild(args.lastChild)
        node.appendChild(args)
        return node

    def _print_Symbol(self, sym, style="plain"):
        if re.fullmatch(r"[A-Za-z]+[0-9]*('*)", sym.name) or "^" in sym.name:
            return super()._print_Symbol(sym, style)  # plain names and SymPy's own super/subscripts
        node = self._name(sym.name)
        if style == "bold":
            node.setAttribute("mathvariant", "bold")
        return node


def _serialise(node) -> str:
    if isinstance(node, Text):
        text = html.unescape(node.data)
        if text == "-" and node.parentNode.tagName == "mo":  # SymPy's operator minus is a hyphen
            text = "\u2212"
        return html.escape(text, quote=False)
    attrs = "".join(f' {k}="{html.escape(v)}"' for k, v in sorted(node.attributes.items()))
    return f"<{node.tagName}{attrs}>" + "".join(_serialise(c) for c in node.childNodes) + f"</{node.tagName}>"


def to_mathml(expr, display: str = "block") -> str:
    """``<math display="block">`` (or ``inline``) of a SymPy expression (SymPy's presentation MathML)."""
    return f'<math display="{display}">' + _serialise(ReportPrinter({})._print(sympy.sympify(expr))) + "</math>"


def statement_mathml(statement) -> list[str]:
    """One MathML block per expression of a lemma's statement (a SymPy expression or a list of them)."""
    return [to_mathml(s) for s in (statement if isinstance(statement, (list, tuple)) else [statement])]


def typeset(result, lemma) -> None:
    """Put the lemma's statement and its assumptions' formulas, typeset, into its result (for the HTML page;
    the plain text stays beside them)."""
    result.statement_mathml = statement_mathml(lemma.statement)
    for d, a in zip(result.assumptions, lemma.assumptions):
        if a.formula is not None:
            d["mathml"] = to_mathml(a.formula, "inline")


def _number(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError
    if isinstance(x, int):
        return sympy.Integer(x)
    if not math.isfinite(x):
        raise TypeError
    return sympy.Float(x, 6)


def value_mathml(value) -> str | None:
    """MathML of a counterexample's number, vector or matrix (6 significant digits;
    the exact values stay in the JSON); None for anything else (text, records,
    non-finite numbers, which the JSON shows as written)."""
    try:
        if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
            return to_mathml(sympy.Matrix([[_number(x) for x in row] for row in value]), "inline")
        if isinstance(value, list) and value:
            return to_mathml(sympy.Matrix([[_number(x) for x in value]]), "inline")
        return to_mathml(_number(value), "inline")
    except (TypeError, ValueError, sympy.ShapeError):
        return None
