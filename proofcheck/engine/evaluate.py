"""The one evaluator of vocabulary expressions (SymPy -> torch float64), with the magnitude rule
that bounds its rounding error."""
from __future__ import annotations

from functools import lru_cache, partial

from dataclasses import dataclass
import sympy as sp
import torch
from proofcheck.setting.coords import Events
from proofcheck.errors import UsageError
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.model import key_set, normaliser
from proofcheck.setting.sampling import Batch
from proofcheck.lang.symbols import A, A0, N, a, attn_q, b, i, j, u_q, z
from proofcheck.lang.symbols import A_loc_max, z2_max
from proofcheck.errors import LemmaFileError


@dataclass
class EventView:
    """One row per (event, masked query p): the vocabulary's values (SPEC DEF-CORR).

    ``z``, ``A`` (E, N_max) with ``z`` padded by 1 and ``A`` by 0 beyond ``n``
    areas; ``a`` (E,) 0-based target area; ``weight`` (E,) the event's probability
    times the loss normalisation factor; ``query``/``cluster`` (E,) for entry-wise
    expectations; key quantities (E, P) when keys are present."""

    z: torch.Tensor
    A: torch.Tensor
    A0: torch.Tensor
    a: torch.Tensor
    n: torch.Tensor
    weight: torch.Tensor
    query: torch.Tensor
    cluster: torch.Tensor
    event: torch.Tensor | None = None
    attn: torch.Tensor | None = None
    unmasked: torch.Tensor | None = None
    key_area: torch.Tensor | None = None
    keys: torch.Tensor | None = None

    @classmethod
    def from_events(cls, ev: Events, inst: Instance, batch: Batch) -> "EventView":
        b_idx, p_idx = batch.mask.nonzero(as_tuple=True)
        n = torch.tensor(inst.N)[batch.cluster]
        return cls(z=ev.z[b_idx], A=ev.A[b_idx, p_idx], A0=ev.A0[b_idx, p_idx], a=ev.a[b_idx, p_idx],
                   n=n[b_idx], weight=(batch.weight * normaliser(inst, batch))[b_idx], query=p_idx,
                   cluster=batch.cluster[b_idx], event=b_idx, attn=ev.attn[b_idx, p_idx],
                   unmasked=ev.unmasked_keys[b_idx], key_area=ev.key_area[b_idx], keys=key_set(inst, batch)[b_idx])

    def __len__(self) -> int:
        return self.z.shape[0]

    @property
    def N_max(self) -> int:
        return self.z.shape[1]


class Evaluator:
    """Evaluate a SymPy expression elementwise on torch float64 tensors.

    ``absolute=True`` evaluates its *magnitude* instead, the scale that bounds
    the float64 rounding error of the plain value (the one magnitude rule of
    proofcheck): |number|; sums of |terms|; products of |factors|; a positive
    integer power of the base's magnitude; Abs, Max and Min of the arguments'
    magnitudes; and |value| for everything whose error is relative to its own
    size (other powers, exp, log, sign, Heaviside).  Indicators (KroneckerDelta,
    relations, And/Or/Not) are exact 0/1 in both modes."""

    def __init__(self, absolute: bool = False):
        self.absolute = absolute

    def plain(self, e) -> torch.Tensor:
        """The plain value of ``e``, whatever the mode."""
        mode, self.absolute = self.absolute, False
        try:
            return self.ev(e)
        finally:
            self.absolute = mode

    def ev(self, e) -> torch.Tensor:
        ab = self.absolute
        if isinstance(e, (sp.Integer, sp.Rational, sp.Float)) or e.is_Number:
            v = float(e)
            return torch.tensor(abs(v) if ab else v, dtype=DTYPE)
        if e is sp.true or e is sp.false:
            return torch.tensor(1.0 if e is sp.true else 0.0, dtype=DTYPE)
        if isinstance(e, sp.Add):
            terms = [self.ev(t) for t in e.args]
            return sum(t.abs() if ab else t for t in terms)
        if isinstance(e, sp.Mul):
            out = torch.tensor(1.0, dtype=DTYPE)
            for f in e.args:
                v = self.ev(f)
                out = out * (v.abs() if ab else v)
            return out
        if isinstance(e, sp.Pow):
            if not e.exp.is_Number:
                raise UsageError(f"only numeric powers are supported, got {e}")
            if ab and not (e.exp.is_Integer and e.exp > 0):
                return self.plain(e).abs()
            return self.ev(e.base) ** float(e.exp)
        if isinstance(e, sp.Abs):
            return self.ev(e.args[0]).abs()
        if isinstance(e, (sp.Max, sp.Min)):
            vals = [self.ev(x) for x in e.args]
            out = vals[0]
            for v in vals[1:]:
                out = torch.maximum(out, v) if isinstance(e, sp.Max) or ab else torch.minimum(out, v)
            return out
        if isinstance(e, (sp.exp, sp.log, sp.sign, sp.Heaviside)):
            if ab:
                return self.plain(e).abs()
            arg = self.ev(e.args[0])
            if isinstance(e, sp.Heaviside):
                h0 = float(e.args[1]) if len(e.args) > 1 else 0.5
                return torch.heaviside(arg, torch.tensor(h0, dtype=DTYPE))
            return {sp.exp: torch.exp, sp.log: torch.log, sp.sign: torch.sign}[type(e)](arg)
        if isinstance(e, sp.KroneckerDelta):
            return (self.index(e.args[0]) == self.index(e.args[1])).to(DTYPE)
        if isinstance(e, sp.Sum):
            return self.sum(e)
        if isinstance(e, sp.Rel):
            lhs, rhs = self.plain(e.lhs), self.plain(e.rhs)
            op = {sp.GreaterThan: torch.ge, sp.StrictGreaterThan: torch.gt, sp.LessThan: torch.le,
                  sp.StrictLessThan: torch.lt, sp.Equality: torch.eq, sp.Unequality: torch.ne}[type(e)]
            return op(lhs, rhs).to(DTYPE)
        if isinstance(e, (sp.And, sp.Or)):
            vals = [self.plain(x) > 0 for x in e.args]
            out = vals[0]
            for v in vals[1:]:
                out = (out & v) if isinstance(e, sp.And) else (out | v)
            return out.to(DTYPE)
        if isinstance(e, sp.Not):
            return (self.plain(e.args[0]) <= 0).to(DTYPE)
        return self.atom(e)

    def index(self, e) -> torch.Tensor:
        return self.plain(e)

    def sum(self, e) -> torch.Tensor:
        raise UsageError(f"sums are not supported here: {e}")

    def atom(self, e) -> torch.Tensor:
        raise UsageError(f"unknown symbol or function {e} (see proofcheck.lang.symbols.VOCABULARY)")


class SymbolEvaluator(Evaluator):
    """An expression in plain symbols, each bound to a tensor (``values``)."""

    def __init__(self, values: dict, absolute: bool = False):
        super().__init__(absolute)
        self.values = values

    def atom(self, e) -> torch.Tensor:
        if e in self.values:
            v = torch.as_tensor(self.values[e], dtype=DTYPE)
            return v.abs() if self.absolute else v
        return super().atom(e)


class EventEvaluator(Evaluator):
    """Vocabulary expressions on an :class:`EventView`, as (E, J, Kq, I) tensors:
    J ranges over the areas j (when the expression uses j), Kq over the keys q
    (when it uses b, attn_q or u_q), I over the summation index i (inside a Sum).
    ``domain`` collects where explicit indices such as ``z[2]`` exist."""

    def __init__(self, view: EventView, J: int, Kq: int, absolute: bool = False):
        super().__init__(absolute)
        self.v, self.J, self.Kq = view, J, Kq
        self.in_sum = False
        self.domain = torch.ones(len(view), 1, 1, 1, dtype=torch.bool)

    def _e(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(DTYPE).view(-1, 1, 1, 1)

    def index(self, e) -> torch.Tensor:
        return self.plain(e).reshape(-1, 1, 1, 1) if sp.sympify(e).is_Number else self.plain(e)

    def _keys(self, t: torch.Tensor) -> torch.Tensor:
        if self.Kq == 1:
            raise UsageError("a key quantity (b, attn_q, u_q) needs the key dimension")
        return t.to(DTYPE).unsqueeze(1).unsqueeze(-1)

    def atom(self, e):
        v = self.v
        if e == a:
            return self._e(v.a + 1)
        if e == j:
            return torch.arange(1, self.J + 1, dtype=DTYPE).view(1, -1, 1, 1)
        if e == b:
            return self._keys(v.key_area + 1)
        if e == i:
            if not self.in_sum:
                raise UsageError("i is a summation index: use it only inside Sum(..., (i, lo, hi))")
            return torch.arange(1, v.N_max + 1, dtype=DTYPE).view(1, 1, 1, -1)
        if e == N:
            return self._e(v.n)
        if e == A0:
            return self._e(v.A0)
        if e == attn_q:
            return self._keys(v.attn)
        if e == u_q:
            return self._keys(v.unmasked)
        valid = torch.arange(v.N_max).view(1, -1) < v.n.view(-1, 1)
        if e == z2_max:
            return self._e(torch.where(valid, v.z**2, torch.zeros(())).amax(1))
        if e == A_loc_max:
            return self._e(torch.where(valid, v.A, torch.zeros(()))[:, 1:].amax(1)
                           if v.N_max > 1 else torch.zeros(len(v)))
        if isinstance(e, sp.Indexed) and e.base in (z, A) and len(e.indices) == 1:
            base = v.z if e.base == z else v.A
            idx = self.index(e.indices[0]).long()  # exact: indices are small integers in float64
            full = idx.expand(len(v), *idx.shape[1:])
            out = base.gather(1, (full - 1).clamp(0, v.N_max - 1).reshape(len(v), -1)).reshape(full.shape)
            if full.shape[-1] == 1:  # an index that does not run with i must exist in the event
                self.domain = self.domain & (full >= 1) & (full <= v.n.view(-1, 1, 1, 1))
            return out.abs() if self.absolute else out
        return super().atom(e)

    def sum(self, e):
        if len(e.limits) != 1 or e.limits[0][0] != i or self.in_sum:
            raise UsageError(f"only single sums over i are supported: {e}")
        _, lo, hi = e.limits[0]
        self.in_sum = True
        try:
            body = self.ev(e.function)
            ii = self.atom(i)
            keep = (ii >= self.index(lo)) & (ii <= self.index(hi)) & (ii <= self._e(self.v.n))
        finally:
            self.in_sum = False
        body = body.expand(torch.broadcast_shapes(body.shape, keep.shape))
        return torch.where(keep, body.abs() if self.absolute else body, torch.zeros(())).sum(-1, keepdim=True)


def uses_j(*exprs) -> bool:
    return any(j in sp.sympify(e).free_symbols for e in exprs if e is not None)


def uses_keys(*exprs) -> bool:
    return any(sp.sympify(e).free_symbols & {b, attn_q, u_q} for e in exprs if e is not None)


def evaluate(expr, view: EventView, J: int = 1, Kq: int = 1, absolute: bool = False):
    """(values, domain): ``expr`` on every row of ``view`` as an (E, J, Kq) tensor,
    and where its explicit indices exist."""
    ev = EventEvaluator(view, J, Kq, absolute)
    val = ev.ev(sp.sympify(expr))
    shape = (len(view), J, Kq, 1)
    return val.expand(shape)[..., 0], ev.domain.expand(shape)[..., 0]


def entry_domain(view: EventView, J: int, Kq: int) -> torch.Tensor:
    """(E, J, Kq): j is an area of the event's cluster; q is a key of its key set."""
    dom = torch.ones(len(view), J, Kq, dtype=torch.bool)
    if J > 1:
        dom = dom & (torch.arange(J).view(1, -1, 1) < view.n.view(-1, 1, 1))
    if Kq > 1:
        dom = dom & view.keys.unsqueeze(1)
    return dom


@lru_cache(maxsize=1024)
def compiled(closed_form, n_areas: int, subs: tuple):
    """(f, |f|) at one event shape: N, a and j / b substituted, Sums expanded;
    both take z_1..z_N, A_1..A_N, A0, attn_q, u_q (tensors) and evaluate with
    :class:`Evaluator` (|f| by its magnitude rule)."""
    expr = sp.sympify(closed_form).subs({N: n_areas, **dict(subs)}).doit()
    zs = sp.symbols(f"z1:{n_areas + 1}")
    As = sp.symbols(f"A1:{n_areas + 1}")
    expr = expr.xreplace({**{z[i + 1]: zs[i] for i in range(n_areas)}, **{A[i + 1]: As[i] for i in range(n_areas)}})
    args = [*zs, *As, A0, attn_q, u_q]
    left = {s for s in expr.free_symbols if s not in args}
    if left:
        raise LemmaFileError(f"closed form {closed_form} keeps {sorted(map(str, left))} at N={n_areas}, {dict(subs)}: "
                             "an index outside 1..N or a symbol outside the vocabulary")
    def value(*values, absolute=False):
        return SymbolEvaluator(dict(zip(args, values)), absolute).ev(expr)

    return value, partial(value, absolute=True)


def _call(fn, args, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(fn(*args), dtype=DTYPE).expand_as(like)
