"""Encoding of an instantiated claim in z3 (part of :mod:`proofcheck.engine.decide`).

Max, Min and Abs: the conjunction encoding
-------------------------------------------
A maximum ``M = max_k x_k`` is replaced by a fresh real ``m`` with the
*conjunction* ``m >= x_k for all k`` -- "m is an upper bound of the x_k".  The
counterexample query becomes ``exists x, m >= max x: domain, hyp(m), not
rel(m)``, a relaxation of the exact one (m = max is among the allowed values):

* unsat of the relaxation implies unsat of the exact query, so PROVED is always
  sound;
* when the claim ``C(m) = (hyp(m) => rel(m))`` is monotone non-decreasing in m
  (an *upper-bound use*: ``m`` with a non-negative coefficient on the larger side
  of a ``<=`` in the conclusion, as ``z2_max`` in LEM-G7's bound, or on the
  smaller side of a ``<=`` in the hypothesis, as ``max_{i>=2} A_i`` in LEM-G7's
  condition), ``C(max) => C(m)`` for every ``m >= max``, so a relaxed
  counterexample (``not C(m)``) is an exact one (``not C(max)``): the
  conjunction alone is exact both ways.
* on the other side (lower-bound use: ``lhs >= max``, ``max <= rhs`` in the
  conclusion, ``max >= c`` in the hypothesis, or a coefficient of unknown sign)
  the relaxation can pick ``m`` above the maximum and produce spurious
  counterexamples; there the *disjunction* ``m == x_1 or .. or m == x_k`` is
  needed as well and is added (``encoding`` records which was used and why).

A syntactic polarity analysis (signs of coefficients from the domain: masses
``>= 0``, even powers, ``z >= 0`` when the z-domain says so) decides which
case applies; anything it cannot classify gets the exact encoding.  ``Min`` is
the mirror image (``m <= x_k``; conjunction alone exact when the claim is
non-increasing in it) and ``Abs(x)`` is ``Max(x, -x)``.  Independently of the
analysis every counterexample is recomputed in SymPy with the true maxima; a
relaxed model that fails that check is re-solved with the exact encoding.
``max_encoding="conjunction"`` forces the conjunction everywhere (sound for
PROVED only; a spurious model then gives INCONCLUSIVE) and ``"exact"`` forces
the disjunction everywhere.

"""
from __future__ import annotations

import sympy as sp
import z3

from proofcheck.engine.decide_translate import UnsupportedClaim

# -- polarity analysis (when the conjunction alone encodes a Max exactly) ---------------------------------

def _sign(e, zsign) -> int | None:
    """1: e >= 0 on the domain; -1: e <= 0; 0: e == 0; None: unknown."""
    if isinstance(e, sp.Number):
        return 1 if e > 0 else (-1 if e < 0 else 0)
    if isinstance(e, sp.Symbol):
        return zsign if e.name.startswith("z_") else (1 if e.name.startswith("A_") else None)
    if isinstance(e, sp.Add):
        const, rest = e.as_coeff_Add()
        masses = [-t for t in sp.Add.make_args(rest)]
        if const >= 1 and all(isinstance(m, sp.Symbol) and m.name.startswith("A_") for m in masses) \
                and len(set(masses)) == len(masses):
            return 1  # 1 - (a sum of distinct masses) >= 0 on the simplex
        s = {_sign(t, zsign) for t in e.args}
        if None in s:
            return None
        if s <= {0}:
            return 0
        if s <= {0, 1}:
            return 1
        if s <= {0, -1}:
            return -1
        return None
    if isinstance(e, sp.Mul):
        out = 1
        for f in e.args:
            s = _sign(f, zsign)
            if s is None:
                return None
            out *= s
        return out
    if isinstance(e, sp.Pow):
        ex = e.exp
        if isinstance(ex, sp.Integer):
            if int(ex) % 2 == 0:
                return 1
            return _sign(e.base, zsign)
        if isinstance(ex, sp.Rational):
            return 1
        return None
    if isinstance(e, sp.Max):
        s = [_sign(x, zsign) for x in e.args]
        if any(v in (0, 1) for v in s):
            return 1
        if all(v == -1 for v in s):
            return -1
        return None
    if isinstance(e, sp.Min):
        s = [_sign(x, zsign) for x in e.args]
        if all(v in (0, 1) for v in s):
            return 1
        if any(v in (0, -1) for v in s):
            return -1
        return None
    if isinstance(e, sp.Abs):
        return 1
    return None


def polarities(cond, rel, zsign) -> dict:
    """{Max/Min/Abs node: set of polarities}: +1 if the claim's truth is
    non-decreasing in the node's value at that occurrence, -1 non-increasing, 0 unknown."""
    out: dict = {}

    def expr(e, q):
        if isinstance(e, (sp.Max, sp.Min, sp.Abs)):
            out.setdefault(e, set()).add(q)
            if isinstance(e, sp.Abs):
                s = _sign(e.args[0], zsign)
                expr(e.args[0], q * s if s in (1, -1) else 0)
            else:
                for x in e.args:
                    expr(x, q)
            return
        if isinstance(e, sp.Add):
            for t in e.args:
                expr(t, q)
            return
        if isinstance(e, sp.Mul):
            for k, f in enumerate(e.args):
                s = _sign(sp.Mul(*(e.args[:k] + e.args[k + 1:])), zsign)
                expr(f, q * s if s in (1, -1) else 0)
            return
        if isinstance(e, sp.Pow):
            ex, s = e.exp, _sign(e.base, zsign)
            if isinstance(ex, sp.Integer) and ex > 0:
                qq = q if int(ex) % 2 == 1 else (q * s if s in (1, -1) else 0)
            elif isinstance(ex, sp.Integer) and ex < 0:
                if s == 1:
                    qq = -q
                elif s == -1:
                    qq = -q if int(ex) % 2 else q
                else:
                    qq = 0
            elif isinstance(ex, sp.Rational) and ex > 0:
                qq = q
            else:
                qq = 0
            expr(e.base, qq)
            return
        for x in e.args:
            expr(x, 0)

    def boolean(e, p):
        if isinstance(e, sp.Implies):
            boolean(e.args[0], -p)
            boolean(e.args[1], p)
        elif isinstance(e, (sp.And, sp.Or)):
            for x in e.args:
                boolean(x, p)
        elif isinstance(e, sp.Not):
            boolean(e.args[0], -p)
        elif isinstance(e, (sp.GreaterThan, sp.StrictGreaterThan)):
            expr(e.lhs, p)
            expr(e.rhs, -p)
        elif isinstance(e, (sp.LessThan, sp.StrictLessThan)):
            expr(e.lhs, -p)
            expr(e.rhs, p)
        elif isinstance(e, sp.Basic):
            for x in e.args:
                expr(x, 0) if isinstance(x, sp.Expr) else boolean(x, 0)

    boolean(cond, -1)
    boolean(rel, 1)
    return out


# -- z3 encoding ------------------------------------------------------------------------------------------

class Encoder:
    def __init__(self, polarity: dict, max_encoding: str):
        self.vars: dict[str, z3.ArithRef] = {}
        self.side: list = []        # definitions of fresh variables
        self.defined: list = []     # domain of definition (denominators != 0)
        self.fresh: dict = {}
        self.polarity = polarity
        self.max_encoding = max_encoding
        self.notes: dict[str, str] = {}
        self.relaxed = False        # some Max/Min/Abs has the conjunction only

    def var(self, name: str):
        if name not in self.vars:
            self.vars[name] = z3.Real(name)
        return self.vars[name]

    def __call__(self, e):
        if e is sp.true:
            return z3.BoolVal(True)
        if e is sp.false:
            return z3.BoolVal(False)
        if isinstance(e, sp.Rational):  # Integer included
            return z3.Q(int(e.p), int(e.q)) if e.q != 1 else z3.RealVal(int(e.p))
        if isinstance(e, sp.Float):
            r = sp.Rational(e)
            return z3.Q(int(r.p), int(r.q))
        if isinstance(e, sp.Symbol):
            return self.var(e.name)
        if isinstance(e, sp.Add):
            return z3.Sum([self(t) for t in e.args])
        if isinstance(e, sp.Mul):
            return z3.Product([self(t) for t in e.args])
        if isinstance(e, sp.Pow):
            return self.pow(e)
        if isinstance(e, (sp.Max, sp.Min, sp.Abs)):
            return self.extremum(e)
        if isinstance(e, sp.GreaterThan):
            return self(e.lhs) >= self(e.rhs)
        if isinstance(e, sp.StrictGreaterThan):
            return self(e.lhs) > self(e.rhs)
        if isinstance(e, sp.LessThan):
            return self(e.lhs) <= self(e.rhs)
        if isinstance(e, sp.StrictLessThan):
            return self(e.lhs) < self(e.rhs)
        if isinstance(e, sp.Equality):
            return self(e.lhs) == self(e.rhs)
        if isinstance(e, sp.Unequality):
            return self(e.lhs) != self(e.rhs)
        if isinstance(e, sp.And):
            return z3.And([self(x) for x in e.args])
        if isinstance(e, sp.Or):
            return z3.Or([self(x) for x in e.args])
        if isinstance(e, sp.Not):
            return z3.Not(self(e.args[0]))
        if isinstance(e, sp.Implies):
            return z3.Implies(self(e.args[0]), self(e.args[1]))
        raise UnsupportedClaim(f"cannot encode {type(e).__name__}: {e}")

    @staticmethod
    def _power(x, n: int):
        return z3.Product([x] * n) if n > 1 else (x if n == 1 else z3.RealVal(1))

    def pow(self, e):
        ex = e.exp
        if isinstance(ex, sp.Integer):
            n = int(ex)
            base = self(e.base)
            if n >= 0:
                return self._power(base, n)
            self.defined.append(base != 0)
            return 1 / self._power(base, -n)
        if isinstance(ex, sp.Rational) and ex.q == 2:
            key = ("sqrt", e.base)
            if key not in self.fresh:
                s = z3.Real(f"_sqrt{len(self.fresh)}")
                self.side += [s >= 0, s * s == self(e.base)]
                self.fresh[key] = s
            s, n = self.fresh[key], int(ex.p)
            if n >= 0:
                return self._power(s, n)
            self.defined.append(s != 0)
            return 1 / self._power(s, -n)
        raise UnsupportedClaim(f"only integer and half-integer powers are supported: {e}")

    def extremum(self, e):
        if e in self.fresh:
            return self.fresh[e]
        m = z3.Real(f"_m{len(self.fresh)}")
        self.fresh[e] = m
        args = [self(x) for x in e.args] if not isinstance(e, sp.Abs) else [self(e.args[0]), -self(e.args[0])]
        is_min = isinstance(e, sp.Min)
        self.side += [m <= x if is_min else m >= x for x in args]
        good = -1 if is_min else 1
        pols = self.polarity.get(e, {0})
        if self.max_encoding == "conjunction" or (self.max_encoding == "auto" and pols == {good}):
            self.relaxed = True
            self.notes[str(e)] = ("conjunction only (" + ("m <= each argument" if is_min else "m >= each argument")
                                  + (": the claim is monotone in it, so this is exact)" if pols == {good}
                                     else ": forced; sound for PROVED only)"))
        else:
            self.side.append(z3.Or([m == x for x in args]))
            why = "forced" if self.max_encoding == "exact" else (
                "it occurs on the lower-bound side" if (-good) in pols else "its polarity is unknown")
            self.notes[str(e)] = f"conjunction + disjunction m == one argument ({why})"
        return m



def conjuncts(rel) -> list:
    """Relations whose conjunction is equivalent to ``rel``: a maximum or an absolute
    value on the bounded side is split exactly (``|x| <= B`` iff ``x <= B`` and
    ``-x <= B``; ``max x_k <= B`` iff every ``x_k <= B``; mirrored for ``>=``, ``Min``)."""
    lhs, rhs = rel.lhs, rel.rhs
    cls = type(rel)
    if cls in (sp.LessThan, sp.StrictLessThan):
        if isinstance(lhs, sp.Abs):
            return conjuncts(cls(lhs.args[0], rhs, evaluate=False)) + conjuncts(cls(-lhs.args[0], rhs,
                                                                                       evaluate=False))
        if isinstance(lhs, sp.Max):
            return [p for x in lhs.args for p in conjuncts(cls(x, rhs, evaluate=False))]
        if isinstance(rhs, sp.Min):
            return [p for x in rhs.args for p in conjuncts(cls(lhs, x, evaluate=False))]
    if cls in (sp.GreaterThan, sp.StrictGreaterThan):
        if isinstance(rhs, sp.Abs):
            return conjuncts(cls(lhs, rhs.args[0], evaluate=False)) + conjuncts(cls(lhs, -rhs.args[0],
                                                                                       evaluate=False))
        if isinstance(rhs, sp.Max):
            return [p for x in rhs.args for p in conjuncts(cls(lhs, x, evaluate=False))]
        if isinstance(lhs, sp.Min):
            return [p for x in lhs.args for p in conjuncts(cls(x, rhs, evaluate=False))]
    return [rel]


def prepare_negation(part, zsign) -> dict:
    """How to state ``not part`` (on the domain).  For a non-strict inequality or
    an equality, ``g = lhs - rhs`` (or ``rhs - lhs``) is factored and factors of
    known sign on the domain are split off: with ``g = sigma * prod f_k^e_k * rest``
    and every f_k of known sign, ``g < 0`` iff every ``f_k != 0`` and
    ``sigma * rest < 0`` (``g != 0`` iff every ``f_k != 0`` and ``rest != 0``).  An
    equivalent query of lower degree, which nlsat often decides much faster.
    Factors containing a Max/Min/Abs are never split (their relaxed encodings need
    not keep the sign)."""
    cls = type(part)
    if cls in (sp.GreaterThan, sp.LessThan, sp.Equality):
        g = part.lhs - part.rhs if cls is not sp.LessThan else part.rhs - part.lhs
        opaque = {e: sp.Dummy() for e in g.atoms(sp.Max, sp.Min, sp.Abs)}
        gd = sp.expand(g.xreplace(opaque))
        syms = sorted(gd.free_symbols, key=str)
        if syms and gd.is_polynomial(*syms):
            back = {v: k for k, v in opaque.items()}
            coeff, factors = sp.factor_list(gd)
            sigma, conds, rest, split = 1, [], [], []
            for f, e in factors:
                s = None if f.free_symbols & set(back) else _sign(f, zsign)
                if s in (1, -1) or (e % 2 == 0 and not f.free_symbols & set(back)):
                    if s in (1, -1):
                        sigma *= s ** e
                    conds.append((f, s if s in (1, -1) else 0))
                    split.append(str(f) if e == 1 else f"({f})**{e}")
                else:
                    rest.append(f.xreplace(back) ** e)
            if split:
                return {"kind": "split", "conds": conds, "rest": sp.Mul(coeff * sigma, *rest),
                        "equality": cls is sp.Equality,
                        "note": "split off factors of known sign: " + ", ".join(split)}
    return {"kind": "plain", "part": part, "note": None}


def negation(prepared: dict, enc: Encoder):
    """The z3 formula of :func:`prepare_negation`'s plan."""
    if prepared["kind"] == "plain":
        return z3.Not(enc(prepared["part"]))
    conds = [enc(f) > 0 if s == 1 else (enc(f) < 0 if s == -1 else enc(f) != 0) for f, s in prepared["conds"]]
    r = enc(prepared["rest"])
    return z3.And(*conds, r != 0 if prepared["equality"] else r < 0)


