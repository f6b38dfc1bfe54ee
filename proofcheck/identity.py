"""Gradient identities (SPEC §8 LEM-G1, G4, G5, G6, G8): one claim, three legs.

A :class:`GradientIdentity` states a closed form for the ascent direction
``-dL/d(coordinate)`` as a per-event integrand in the vocabulary of
:mod:`proofcheck.symbols`; the indicators 1_k 1{p in M} (and 1{q in S}) of SPEC
§8 are implied by the event loop.  Coordinates:

- ``fp``: Phi_{p -> v_{k,j}} (LEM-G4/G5/G6), integrand in z, A, A0, N, a, j;
- ``pp``: Ups_{p -> q} (LEM-G8), integrand in z, A, A0, N, a, b, attn_q, u_q;
- ``q``: the full gradient of LEM-G1, -dL/dQ = E[sum_{p in M} sum_{q in S} c_q e_p (x~_q + e_q)^T]
  with the per-key coefficient c_q as integrand (same symbols as ``pp``).

Legs (CheckResult kinds):

- ``symbolic`` (:mod:`proofcheck.symbolic`): the closed form equals the
  derivative that ``sympy.diff`` takes of the model's per-event loss, on every
  event of a small symbolic instance (fixture-6 by default), in each key set;
- ``numeric``: the closed form, lambdified to torch float64 and summed over the
  exact batch (weights and loss normaliser), against (i) autograd of the FULL
  d x d model (:func:`proofcheck.model.forward_loss` at ``q_from_coords``, read
  back with ``fp_correlation`` / ``pp_correlation``) and (ii) central finite
  differences of the *row* losses (SPEC LEM-G3: perturbing a whole column of
  Phi / Ups / Q changes every row's loss only through its own entry, so 4 (F + P)
  evaluations give all P (F + P) entries at steps h and 2h; the Ups columns are
  evaluated together by a rank-one update of the area softmax).  Points: the
  symbolic instance in both key sets at a random span Q, Hypothesis cases within
  the lemma's assumptions, and checkpoints of trained transformers where
  attention is sharply peaked.

Error model (stated in every numeric CheckResult):

- closed form vs autograd: both evaluate sums of per-event terms in float64;
  |difference| <= kappa eps (R + M) per entry, where M is the closed form with
  every term made positive (a running-error bound), R the same for the model's
  gradient (attn |<x_p - F_p, x~_q - F_p>| summed like the entry), and
  kappa = 4 (P + N_max + ceil(log2 B) + d (1 + s_max)): softmax sums over <= P
  keys, area sums over <= N_max, pairwise summation over B events, and logits
  of size s_max formed by d-term products in the full model;
- finite differences: truncation estimated by Richardson, |D_h - D_2h| (3x the
  estimate of D_h's error), plus rounding kappa eps l_p / h with l_p the row
  loss magnitude.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache, reduce

import sympy as sp
import torch

from .assumptions import CaseClaim, Outcome, case_q, search_cases, explicit_cases, satisfying
from .cases import Case
from .coords import (area_masses, area_softmax, events, fast_path_ok, fp_correlation, pp_correlation, q_from_coords,
                     residual_terms, unavoidable)
from .errors import LemmaFileError, ProofcheckError
from .instance import DTYPE, Instance, preset
from .lemma import CheckContext, Lemma
from .model import forward_loss, images, key_set, normaliser, position_losses
from .sampling import Batch, exact_batch
from .symbolic import COORDINATES, applies, prove_identity, vocabulary_problem
from .symbols import A, A0, attn_q, a, b, j, N, u_q, z
from .trainer import TrainConfig, coords_at
from .trajcache import cached_train
from .verdict import CheckResult, Verdict

EPS = float(torch.finfo(DTYPE).eps)
#: central-difference step (a power of 2); h and 2h give the Richardson estimate
FD_STEP = 2.0**-16
#: the trained transformers whose checkpoints are checked (name, instance, GD config): step sizes
#: large enough that the last checkpoint's attention is peaked to rounding level (1 - A_{p,a} ~ 1e-16)
CHECKPOINT_RUNS = (
    ("fixture-6, key set B", lambda: preset("fixture-6"), TrainConfig(steps=200, eta=1000.0, log_every=100)),
    ("balanced P=8, key set A", lambda: preset("balanced", P=8, K=2, N=2, key_set="A"),
     TrainConfig(steps=200, eta=300.0, log_every=100)),
)


class InconsistentLegs(ProofcheckError):
    """Autograd and finite differences disagree: the check cannot judge the closed form."""


# -- the closed form, compiled to torch --------------------------------------------------------

def _tmax(*args):
    return reduce(torch.maximum, (torch.as_tensor(x, dtype=DTYPE) for x in args))


def _tmin(*args):
    return reduce(torch.minimum, (torch.as_tensor(x, dtype=DTYPE) for x in args))


#: unqualified names for lambdify (TorchPrinter would print torch.max(1.0, x), which fails)
TORCH_FUNCTIONS = {"exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "Abs": torch.abs, "Max": _tmax,
                   "Min": _tmin, "sign": torch.sign,
                   "Heaviside": lambda x, h0=0.5: torch.heaviside(torch.as_tensor(x, dtype=DTYPE),
                                                                 torch.as_tensor(h0, dtype=DTYPE))}


def magnitude(expr) -> sp.Expr:
    """The expression with every term made positive (|a + b| -> |a| + |b|,
    |a b| -> |a| |b|): the scale of its float64 rounding error."""
    if expr.is_Add or expr.is_Mul:
        return expr.func(*[magnitude(t) for t in expr.args])
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return magnitude(expr.base) ** expr.exp
    if expr.is_Number:
        return abs(expr)
    return sp.Abs(expr)


@lru_cache(maxsize=1024)
def compiled(closed_form, n_areas: int, subs: tuple):
    """(f, |f|) lambdified at one event shape: N, a and j / b substituted, Sums
    expanded; arguments z_1..z_N, A_1..A_N, A0, attn_q, u_q (tensors)."""
    expr = sp.sympify(closed_form).subs({N: n_areas, **dict(subs)}).doit()
    zs = sp.symbols(f"z1:{n_areas + 1}")
    As = sp.symbols(f"A1:{n_areas + 1}")
    expr = expr.xreplace({**{z[i + 1]: zs[i] for i in range(n_areas)}, **{A[i + 1]: As[i] for i in range(n_areas)}})
    args = [*zs, *As, A0, attn_q, u_q]
    left = {s for s in expr.free_symbols if s not in args}
    if left:
        raise LemmaFileError(f"closed form {closed_form} keeps {sorted(map(str, left))} at N={n_areas}, {dict(subs)}: "
                             "an index outside 1..N or a symbol outside the vocabulary")
    return (sp.lambdify(args, expr, modules=[TORCH_FUNCTIONS]),
            sp.lambdify(args, magnitude(expr), modules=[TORCH_FUNCTIONS]))


def _call(fn, args, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(fn(*args), dtype=DTYPE).expand_as(like)


# -- the three legs on one point --------------------------------------------------------------

@dataclass
class Legs:
    """Entry-wise values of the three legs at one point, with the error model.
    Arrays have the shape of the coordinate block: (P, F), (P, P) or (P, d);
    ``entries`` marks the entries the claim speaks about."""

    closed: torch.Tensor
    autograd: torch.Tensor
    fd: torch.Tensor | None
    tol_closed: torch.Tensor      # closed form vs autograd
    tol_fd: torch.Tensor | None   # closed form vs finite differences
    tol_ref: torch.Tensor | None  # autograd vs finite differences
    entries: torch.Tensor
    kappa: float
    n_events: int
    fd_note: str


def _model_scale(inst: Instance, batch: Batch, A_: torch.Tensor):
    """Per (event, query) G = m (z_max + m), m = |z_a| + sum_i |z_i| A_i >= |x_p| + |F_p|:
    |attn_q <x_p - F_p, x~_q - F_p>| <= attn_q G (orthonormal basis, triangle inequality)."""
    zabs = batch.z.abs()
    a_idx = inst.area_of[batch.cluster]
    m = zabs.gather(1, a_idx) + (zabs.unsqueeze(1) * A_).sum(-1)
    return m * (zabs.amax(1, keepdim=True) + m), m


def three_legs(coordinate: str, closed_form, restriction, inst: Instance, Phi: torch.Tensor, Ups: torch.Tensor,
               batch: Batch, Q: torch.Tensor | None = None) -> Legs:
    """Evaluate closed form, autograd and finite differences at (Phi, Ups) on ``batch``."""
    P, d = inst.P, inst.d
    ev = events(Phi, Ups, inst, batch)
    w = batch.weight * normaliser(inst, batch)
    wm = w.unsqueeze(1) * batch.mask                                                  # (B, p)
    S = key_set(inst, batch).to(DTYPE)                                                # (B, q)
    a_idx = inst.area_of[batch.cluster]                                               # (B, p) 0-based
    G, m = _model_scale(inst, batch, ev.A)
    cols = {"fp": inst.F, "pp": P, "q": d}[coordinate]
    shape = (P, cols)
    closed, mag, ref = (torch.zeros(shape, dtype=DTYPE) for _ in range(3))
    entries = torch.zeros(shape, dtype=torch.bool)
    if coordinate == "fp":
        for k, cluster in enumerate(inst.clusters):
            rows = batch.cluster == k
            n = len(cluster.areas)
            zk, Ak, A0k, wk = batch.z[rows, :n], ev.A[rows, :, :n], ev.A0[rows], wm[rows]
            args = [zk[:, i:i + 1] for i in range(n)] + [Ak[..., i] for i in range(n)] + [A0k, 0.0, 0.0]
            for jj in range(1, n + 1):
                f = inst.feature_index(k, jj - 1)
                ref[:, f] = (wk * zk[:, jj - 1:jj].abs() * Ak[..., jj - 1] * G[rows]).sum(0)
                for aa in range(1, n + 1):
                    on_rows = inst.area_of[k] == aa - 1                                # queries p with a_k(p) = a
                    if not applies(restriction, j=jj, a=aa, N=n):
                        continue
                    entries[on_rows, f] = True
                    fn, fn_abs = compiled(closed_form, n, ((a, aa), (j, jj)))
                    sel = wk * (a_idx[rows] == aa - 1)
                    closed[:, f] += (sel * _call(fn, args, A0k)).sum(0)
                    mag[:, f] += (sel * _call(fn_abs, args, A0k)).sum(0)
    else:
        coeff = torch.zeros_like(ev.attn)                                               # (B, p, q)
        coeff_mag = torch.zeros_like(ev.attn)
        key_area = ev.key_area
        for k, cluster in enumerate(inst.clusters):
            rows = batch.cluster == k
            n = len(cluster.areas)
            zk = batch.z[rows, :n]
            Ak, A0k, attn = ev.A[rows, :, :n], ev.A0[rows].unsqueeze(-1), ev.attn[rows]
            u = ev.unmasked_keys[rows].to(DTYPE).unsqueeze(1)
            args = [zk[:, i:i + 1, None] for i in range(n)] + [Ak[..., i:i + 1] for i in range(n)] + [A0k, attn, u]
            for aa in range(1, n + 1):
                for bb in range(1, n + 1):
                    if not applies(restriction, b=bb, a=aa, N=n):
                        continue
                    fn, fn_abs = compiled(closed_form, n, ((a, aa), (b, bb)))
                    sel = (a_idx[rows] == aa - 1).unsqueeze(2) & (key_area[rows] == bb - 1).unsqueeze(1)
                    coeff[rows] += torch.where(sel, _call(fn, args, attn), 0.0)
                    coeff_mag[rows] += torch.where(sel, _call(fn_abs, args, attn), 0.0)
        weight = wm.unsqueeze(2) * S.unsqueeze(1)                                       # (B, p, q)
        model = ev.attn * G.unsqueeze(2)
        if coordinate == "pp":
            closed, mag, ref = ((weight * c).sum(0) for c in (coeff, coeff_mag, model))
            entries[:] = _pp_entries(inst, restriction)
        else:
            if restriction is not None:
                raise LemmaFileError("a restriction is not supported for the full-gradient (q) coordinate")
            tokens = images(inst, batch) * (~batch.mask).unsqueeze(-1) + inst.E.T       # (B, q, d): x~_q + e_q
            closed = torch.einsum("bpq,bqd->pd", weight * coeff, tokens)
            mag = torch.einsum("bpq,bqd->pd", weight * coeff_mag, tokens.abs())
            ref = torch.einsum("bpq,bqd->pd", weight * model, tokens.abs())
            entries[:] = True
    # autograd of the full d x d model
    Q = (q_from_coords(Phi, Ups, inst) if Q is None else Q).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(forward_loss(Q, inst, batch), Q)
    autograd = -{"fp": fp_correlation, "pp": pp_correlation}.get(coordinate, lambda g, i: i.E.T @ g)(grad, inst)
    s_max = float((Phi.abs().amax() * batch.z.abs().amax() if Phi.numel() else 0) + Ups.abs().amax())
    kappa = 4.0 * (P + inst.N_max + math.ceil(math.log2(max(len(batch), 2))) + d * (1.0 + s_max))
    tol_closed = kappa * EPS * (ref + mag)
    if inst.basis != "aligned" or inst.skew:
        # Q = E Phi V^T + E Ups E^T and the read-back E^T grad V mix every entry of a row:
        # each entry carries rounding of the whole row gradient, sum_q attn_q G (|x~_q| + |e_q|)
        row = (wm * G * (batch.z.abs().amax(1, keepdim=True) + 1)).sum(0)
        tol_closed = tol_closed + kappa * EPS * row.unsqueeze(1)
    legs = Legs(closed, autograd, None, tol_closed, None, None, entries, kappa, len(batch), "")
    if not inst.orthonormal:
        legs.fd_note = "skipped: row decoupling in coordinates (LEM-G3) needs orthonormal embeddings"
        return legs
    row_loss_scale = (wm * 0.5 * m**2).sum(0)                                            # (p,)
    D_h, D_2h, h_eff, step_err = row_differences(coordinate, inst, Phi, Ups, batch, Q.detach())
    trunc = (D_h - D_2h).abs() + step_err
    # the coordinate loss forms no d-term logits; the full model (q) does
    kappa_rows = kappa if coordinate == "q" else 4.0 * (P + inst.N_max + math.ceil(math.log2(max(len(batch), 2))))
    rounding = kappa_rows * EPS * row_loss_scale.unsqueeze(1) / h_eff
    legs.fd = -D_h
    legs.tol_fd = tol_closed + trunc + rounding
    legs.tol_ref = kappa * EPS * ref + trunc + rounding
    legs.fd_note = (f"central differences of the row losses, h = 2^-16 and 2h (Richardson), "
                    f"{4 * cols} loss evaluations for {P * cols} entries")
    return legs


def _pp_entries(inst: Instance, restriction) -> torch.Tensor:
    """(P, P) entries (p, q) where the restriction holds in every cluster (the
    expectation of an entry mixes clusters, so a cluster-dependent restriction
    does not single out gradient entries)."""
    out = torch.ones(inst.P, inst.P, dtype=torch.bool)
    if restriction is None:
        return out
    for k, cluster in enumerate(inst.clusters):
        n = len(cluster.areas)
        for p in range(inst.P):
            for q in range(inst.P):
                aa, bb = int(inst.area_of[k, p]) + 1, int(inst.area_of[k, q]) + 1
                out[p, q] &= applies(restriction, a=aa, b=bb, N=n)
    return out


def ups_column_row_losses(Phi, Ups, inst: Instance, batch: Batch, steps) -> list[torch.Tensor]:
    """For each h in ``steps``, (P, P): L[p, c] = row loss L_p of the coordinate loss
    at Ups + h (column c in every row), for every column c at once, exactly (no
    derivative is used).

    Shifting Ups_{p->c} by h multiplies key c's weight by e^h, so in the area
    softmax of :func:`proofcheck.coords.area_softmax` only the slot s = s(c, b) of
    key c changes: with d = W[p, c] expm1(h) alpha[p, b, s], the masses become
    A' = (A + d e_s) / (sum A + d).  Then ||r_p||^2 = sum_i z_i^2 A'_i^2 - 2 z_a^2 A'_a
    + z_a^2 (SPEC DEF-CORR) needs only sum_i z_i^2 A_i^2, A_s, A_a and z_s: O(P^2 B)
    work for all P columns instead of P evaluations of O(P^2 B)."""
    B, P = batch.mask.shape
    sm = area_softmax(Phi, Ups, inst, batch)
    keys = sm.keys.view(P, B, -1)                                                     # (c, b, slot) one-hot or 0
    present = keys.sum(-1)                                                             # (c, b): key c in S
    slot = keys.argmax(-1)                                                             # (c, b)
    z2 = torch.cat([batch.z**2, torch.zeros_like(batch.z[:, :1])], 1)                 # (b, slot): masked slot is empty
    a_pb = inst.area_of[batch.cluster].T                                               # (p, b)
    z2_a = z2.gather(1, a_pb.T).T                                                      # (p, b)
    A = sm.A_all                                                                       # (p, b, slot)
    total = A.sum(-1)                                                                  # (p, b)
    sq = (z2 * A * A).sum(-1)                                                          # (p, b)
    A_a = A.gather(2, a_pb.unsqueeze(-1)).squeeze(-1)                                 # (p, b)
    events_ = torch.arange(B).unsqueeze(0)
    alpha_s = sm.alpha[:, events_, slot].transpose(0, 1)                               # (c, p, b)
    A_s = A[:, events_, slot].transpose(0, 1)
    z2_s = z2.gather(1, slot.T).T.unsqueeze(1)                                         # (c, 1, b)
    d1 = sm.W.T.unsqueeze(-1) * alpha_s * present.unsqueeze(1)                        # (c, p, b)
    cross = 2 * z2_s * A_s
    in_target = (slot.unsqueeze(1) == a_pb).to(DTYPE)
    w = ((batch.weight * normaliser(inst, batch)).unsqueeze(1) * batch.mask * 0.5).T  # (p, b)
    out = []
    for h in steps:
        d = d1 * math.expm1(h)
        Z = total + d
        Z = torch.where(Z > 0, Z, 1.0)
        r2 = (sq + d * (cross + d * z2_s)) / Z**2 - 2 * z2_a * (A_a + d * in_target) / Z + z2_a
        out.append((w * r2).sum(-1).T)
    return out


def row_differences(coordinate: str, inst: Instance, Phi, Ups, batch: Batch, Q: torch.Tensor):
    """Central differences of the row losses L_p (SPEC LEM-G3) along every column.

    ``fp`` / ``pp``: the coordinate loss (:mod:`proofcheck.coords`, area-softmax
    path) with column f of Phi (column q of Ups) shifted in every row at once
    (for Ups all columns in one vectorised pass, :func:`ups_column_row_losses`);
    ``q``: the full model with Q + h (sum_p e_p) c^T, which shifts every row
    e_p^T Q by h c^T (orthonormal E).  Returns D_h, D_2h, the steps h and the
    error from rounding the step into the entries (0 where the exact step is used:
    for Q, eps max|Q| / h relative)."""
    w = batch.weight.unsqueeze(1)

    def rows_coords(Phi_, Ups_):
        A_, _ = area_masses(Phi_, Ups_, inst, batch)
        r2 = residual_terms(A_, inst, batch)[2]
        return (w * 0.5 * r2 * batch.mask * normaliser(inst, batch).unsqueeze(1)).sum(0)

    def rows_model(Q_):
        return (w * position_losses(Q_, inst, batch)).sum(0)

    if coordinate == "q":
        s = inst.E.sum(1, keepdim=True)
        n_cols = inst.d

        def at(c, h):
            Qh = Q.clone()
            Qh[:, c] += h * s[:, 0]
            return rows_model(Qh), torch.full((inst.P,), h, dtype=DTYPE)
    elif coordinate == "pp" and fast_path_ok(Ups):
        up, down, up2, down2 = ups_column_row_losses(Phi, Ups, inst, batch,
                                                     (FD_STEP, -FD_STEP, 2 * FD_STEP, -2 * FD_STEP))
        out = [(up - down) / (2 * FD_STEP), (up2 - down2) / (4 * FD_STEP)]
        steps = torch.full_like(out[0], FD_STEP)
        return out[0], out[1], steps, torch.zeros_like(out[0])
    else:
        n_cols = inst.F if coordinate == "fp" else inst.P

        def at(c, h):
            Phi_, Ups_ = Phi.clone(), Ups.clone()
            X = Phi_ if coordinate == "fp" else Ups_
            X[:, c] += h
            step = X[:, c] - (Phi if coordinate == "fp" else Ups)[:, c]               # exactly representable step
            return rows_coords(Phi_, Ups_), step

    out = []
    for h in (FD_STEP, 2 * FD_STEP):
        D = torch.empty(inst.P, n_cols, dtype=DTYPE)
        steps = torch.empty(inst.P, n_cols, dtype=DTYPE)
        for c in range(n_cols):
            up, s_up = at(c, h)
            down, s_down = at(c, -h)
            D[:, c] = (up - down) / (s_up - s_down)
            steps[:, c] = s_up - s_down
        out.append((D, steps))
    (D_h, steps_h), (D_2h, _) = out
    step_err = EPS * float(Q.abs().amax()) / FD_STEP * D_h.abs() if coordinate == "q" else torch.zeros_like(D_h)
    return D_h, D_2h, steps_h / 2, step_err


# -- judging one point -------------------------------------------------------------------------

def entry_name(coordinate: str, inst: Instance, p: int, c: int) -> str:
    """SPEC name of an entry: 'p=3, v_{2,1}, cluster 2', 'p=0 -> q=4', 'p=1, Q column 7 (e_4)'."""
    if coordinate == "fp":
        return f"p={p}, {inst.feature_name(c)}, cluster {int(inst.feature_cluster[c]) + 1}"
    if coordinate == "pp":
        return f"p={p} -> q={c}"
    what = ""
    if inst.basis == "aligned" and inst.skew == 0:
        what = f" (e_{c})" if c < inst.P else (f" ({inst.feature_name(c - inst.P)})" if c < inst.P + inst.F else "")
    return f"p={p}, Q column {c}{what}"


def judge(legs: Legs, coordinate: str, inst: Instance) -> Outcome:
    """The worst entry of the closed form against both references, as an Outcome
    (margin = 1 - max error / tolerance over the claim's entries).  Raises
    InconsistentLegs when autograd and finite differences disagree."""
    sel = legs.entries
    n = int(sel.sum())
    if n == 0:
        return Outcome(True, math.inf, math.inf, 0)
    inf = torch.full_like(legs.closed, -math.inf)
    err_ad = (legs.closed - legs.autograd).abs()
    ratio = torch.where(sel, err_ad / legs.tol_closed.clamp(min=1e-300), inf)
    if legs.fd is not None:
        ref_ratio = torch.where(sel, (legs.autograd - legs.fd).abs() / legs.tol_ref.clamp(min=1e-300), inf)
        if float(ref_ratio.max()) > 1:
            p, c = divmod(int(ref_ratio.argmax()), legs.closed.shape[1])
            raise InconsistentLegs(
                f"autograd and finite differences disagree at {entry_name(coordinate, inst, p, c)}: "
                f"{float(legs.autograd[p, c]):.6g} vs {float(legs.fd[p, c]):.6g} "
                f"(tolerance {float(legs.tol_ref[p, c]):.3g}); the references cannot judge the closed form")
        ratio = torch.maximum(ratio, torch.where(sel, (legs.closed - legs.fd).abs() / legs.tol_fd.clamp(min=1e-300),
                                                 inf))
    p, c = divmod(int(ratio.argmax()), legs.closed.shape[1])
    worst_ratio = float(ratio[p, c])
    ad = float(legs.autograd[p, c])
    worst = {"entry": entry_name(coordinate, inst, p, c), "index": [p, c], "closed_form": float(legs.closed[p, c]),
             "autograd": ad, "abs_error_vs_autograd": float(err_ad[p, c]),
             "rel_error_vs_autograd": float(err_ad[p, c]) / abs(ad) if ad else math.inf,
             "tolerance_vs_autograd": float(legs.tol_closed[p, c]), "error_over_tolerance": worst_ratio,
             "entries": n, "events": legs.n_events, "kappa": legs.kappa, "finite_differences": legs.fd_note}
    if legs.fd is not None:
        worst.update({"finite_difference": float(legs.fd[p, c]),
                      "abs_error_vs_fd": abs(float(legs.closed[p, c] - legs.fd[p, c])),
                      "tolerance_vs_fd": float(legs.tol_fd[p, c])})
    margin = 1.0 - worst_ratio
    return Outcome(worst_ratio <= 1.0, margin, margin, n, worst)


# -- the claim --------------------------------------------------------------------------------------

class GradientIdentity(CaseClaim):
    """-dL/d(coordinate) = E[1_k 1{p in M} (1{q in S}) ascent] (SPEC §8), checked
    symbolically and numerically (module docstring).

    ``restriction``: a SymPy relation in a, j (FP) or a, b (PP) selecting the
    event coordinates the identity speaks about, e.g. ``Eq(j, a)`` for LEM-G5."""

    kind = "identity"
    in_coords = False  # the autograd leg runs the full model, so it sees the embeddings

    def __init__(self, label: str, coordinate: str, ascent, restriction=None, symbolic_instance: str = "fixture-6",
                 key_sets=("B", "A"), checkpoints: bool = True, assumes=()):
        if coordinate not in COORDINATES:
            raise LemmaFileError(f"coordinate must be one of {COORDINATES}, got {coordinate!r}")
        problem = vocabulary_problem(ascent, coordinate)
        if problem:
            raise LemmaFileError(problem)
        self.label = label
        self.coordinate = coordinate
        self.ascent = sp.sympify(ascent)
        self.restriction = restriction
        self.symbolic_instance = symbolic_instance
        self.key_sets = tuple(key_sets)
        self.checkpoints = checkpoints
        self.assumes = tuple(assumes)

    @property
    def expression(self):
        return self.ascent

    def mutated(self, expression) -> "GradientIdentity":
        return GradientIdentity(f"{self.label} (mutated)", self.coordinate, expression, self.restriction,
                                self.symbolic_instance, self.key_sets, self.checkpoints, self.assumes)

    def tolerance(self) -> dict:
        return {"atol": None, "rtol": None, "per_entry": True,
                "justification": "per entry: closed form vs autograd within kappa eps (R + M), M the closed form "
                                 "and R the model gradient with all terms positive, kappa = 4 (P + N_max + "
                                 "ceil(log2 B) + d (1 + s_max)) (softmax sums, area sums, pairwise event sums, "
                                 "d-term logits of size s_max), plus kappa eps times the row's gradient magnitude "
                                 "for rotated bases (building Q and reading it back mix a row's entries); "
                                 "finite differences within that plus |D_h - D_2h| "
                                 "(Richardson truncation, 3x the estimate) plus kappa eps l_p / h (rounding of row "
                                 "losses of size l_p, h = 2^-16)"}

    # one point
    def legs(self, inst: Instance, Phi, Ups, batch: Batch | None = None, Q=None) -> Legs:
        return three_legs(self.coordinate, self.ascent, self.restriction, inst, Phi, Ups,
                          batch if batch is not None else exact_batch(inst), Q)

    def evaluate_case(self, case: Case) -> Outcome:
        return judge(self.legs(case.instance, case.Phi, case.Ups, Q=case_q(case)), self.coordinate, case.instance)

    # the check
    def check(self, lemma: Lemma, ctx: CheckContext) -> list[CheckResult]:
        results = [prove_identity(self.ascent, self.coordinate, preset(self.symbolic_instance), ks,
                                  restriction=self.restriction, cache_dir=ctx.cache_dir, seed=ctx.seed,
                                  name=f"{self.describe()} [symbolic, {self.symbolic_instance}, key set {ks}]")
                   for ks in self.key_sets]
        for ks in self.key_sets:
            inst = preset(self.symbolic_instance, key_set=ks)
            g = torch.Generator().manual_seed(ctx.seed)
            Phi = 2 * (2 * torch.rand(inst.P, inst.F, dtype=DTYPE, generator=g) - 1)
            Ups = 2 * (2 * torch.rand(inst.P, inst.P, dtype=DTYPE, generator=g) - 1)
            results.append(timed(self.point_result, lemma, ctx, [(Case(inst, Phi, Ups), "random span Q")],
                                 f"{self.symbolic_instance} at a random span Q, key set {ks}"))
        results.append(timed(self.hypothesis_result, lemma, ctx))
        if self.checkpoints:
            results.append(timed(lambda: self.point_result(lemma, ctx, checkpoint_cases(ctx),
                                                           "checkpoints of trained transformers")))
        return results

    def hypothesis_result(self, lemma: Lemma, ctx: CheckContext) -> CheckResult:
        """Cases drawn by Hypothesis within the lemma's assumptions (seeded by ctx.seed)."""
        assumptions = self.assumptions_for(lemma)
        found = search_cases(satisfying(assumptions, **self.draw), self.evaluate_case, ctx.budget.examples, ctx.seed,
                             explicit_cases(assumptions) if self.explicit else ())
        return self.result(lemma, ctx, found, scope=f"within {[a_.name for a_ in assumptions]}", kind="numeric",
                           name=f"{self.describe()} [numeric, Hypothesis cases]")

    def point_result(self, lemma: Lemma, ctx: CheckContext, cases: list[tuple[Case, str]], where: str) -> CheckResult:
        """One numeric CheckResult over fixed points: the worst entry over all of them."""
        from .probing import save_counterexample

        name = f"{self.describe()} [numeric, {where}]"
        worst, worst_case, entries = None, None, 0
        for case, label in cases:
            out = self.evaluate_case(case)
            entries += out.points
            out.worst["point"] = label
            if worst is None or out.margin < worst.margin:
                worst, worst_case = out, case
        evidence = {"points": len(cases), "entries_compared": entries, "worst": worst.worst,
                    "points_checked": [label for _, label in cases]}
        if not worst.holds:
            cx = save_counterexample(lemma, self, worst_case, worst, ctx, where)
            return CheckResult("numeric", name, Verdict.REFUTED,
                               f"{self.label} fails at {worst.worst['entry']} ({where}, {worst.worst['point']}): "
                               f"closed form {worst.worst['closed_form']:.6g} vs autograd "
                               f"{worst.worst['autograd']:.6g}, error {worst.worst['error_over_tolerance']:.3g}x "
                               "the tolerance", evidence=evidence, tolerance=self.tolerance(), counterexample=cx,
                               margin=worst.margin, seed=ctx.seed)
        return CheckResult("numeric", name, Verdict.VERIFIED,
                           f"agrees with autograd and finite differences on {entries} entries at {len(cases)} "
                           f"point(s) ({where}); worst {worst.worst['entry']}: abs error "
                           f"{worst.worst['abs_error_vs_autograd']:.3g}, {worst.worst['error_over_tolerance']:.3g}x "
                           "the tolerance", evidence=evidence, tolerance=self.tolerance(), margin=worst.margin,
                           seed=ctx.seed)


def timed(fn, *args) -> CheckResult:
    t0 = time.perf_counter()
    result = fn(*args)
    result.timing_s = time.perf_counter() - t0
    return result


@lru_cache(maxsize=8)
def _trained(cache_dir: str | None):
    return [(label, cached_train(make(), cfg, None if cache_dir is None else f"{cache_dir}/trajectories").trajectory)
            for label, make, cfg in CHECKPOINT_RUNS]


def checkpoint_cases(ctx: CheckContext) -> list[tuple[Case, str]]:
    """Logged checkpoints (middle and last) of GD at a large step size, where the
    attention is sharply peaked (SPEC THM-MAIN-v1's limit): rounding is hardest here.
    Each label gives 1 - A_{p,a} (median, max) over the avoidable events (LEM-G11)."""
    out = []
    for label, traj in _trained(None if ctx.cache_dir is None else str(ctx.cache_dir)):
        batch = exact_batch(traj.instance)
        avoidable = batch.mask & ~unavoidable(traj.instance, batch)
        for index in sorted({len(traj.step) // 2, len(traj.step) - 1}):
            Phi, Ups = coords_at(traj, index)
            ev = events(Phi, Ups, traj.instance, batch)
            gap = (1 - ev.A.gather(2, ev.a.unsqueeze(-1)).squeeze(-1))[avoidable]
            out.append((Case(traj.instance, Phi, Ups),
                        f"{label}, step {int(traj.step[index])}, 1 - A_(p,a) median {float(gap.median()):.2g} "
                        f"max {float(gap.max()):.2g}"))
    return out
