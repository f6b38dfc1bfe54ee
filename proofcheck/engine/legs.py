"""The three numeric legs of a gradient identity at one point (SPEC §8): the closed form summed over
the exact batch, autograd of the full d x d model, and central finite differences of the row losses
(SPEC LEM-G3), with the error model that bounds their differences."""
from __future__ import annotations

import math
from dataclasses import dataclass
import torch
from proofcheck.setting.coords import area_masses, area_softmax, events, fast_path_ok, fp_correlation, pp_correlation, q_from_coords, residual_terms
from proofcheck.errors import LemmaFileError, ProofcheckError
from proofcheck.setting.instance import DTYPE, Instance
from proofcheck.setting.model import forward_loss, images, key_set, normaliser, position_losses
from proofcheck.setting.sampling import Batch
from proofcheck.engine.symbolic import applies
from proofcheck.lang.symbols import a, b, j
from proofcheck.engine.evaluate import _call, compiled
from proofcheck.tolerance import EPS


#: central-difference step (a power of 2); h and 2h give the Richardson estimate
FD_STEP = 2.0**-16


class InconsistentLegs(ProofcheckError):
    """Autograd and finite differences disagree: the check cannot judge the closed form."""


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


def ups_column_row_losses(Phi, Ups, inst: Instance, batch: Batch, steps, chunk: int = 4) -> list[torch.Tensor]:
    """For each h in ``steps``, (P, P): L[p, c] = row loss L_p of the coordinate loss
    at Ups + h (column c in every row), for every column c at once, exactly (no
    derivative is used).

    Shifting Ups_{p->c} by h multiplies key c's weight by e^h, so in the area
    softmax of :func:`proofcheck.setting.coords.area_softmax` only the slot s = s(c, b) of
    key c changes: with d = W[p, c] expm1(h) alpha[p, b, s], the masses become
    A' = (A + d e_s) / (sum A + d).  Then ||r_p||^2 = sum_i z_i^2 A'_i^2 - 2 z_a^2 A'_a
    + z_a^2 (SPEC DEF-CORR) needs only sum_i z_i^2 A_i^2, A_s, A_a and z_s: O(P^2 B)
    work for all P columns instead of P evaluations of O(P^2 B).  Columns go ``chunk``
    at a time: the (columns, p, b) temporaries then stay in cache (2.3x faster at P = 64)."""
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
    w = ((batch.weight * normaliser(inst, batch)).unsqueeze(1) * batch.mask * 0.5).T  # (p, b)
    # sum_b w ||r_p||^2 = sum_b w [(sq + d (2 z_s^2 A_s + d z_s^2)) / Z^2 - 2 z_a^2 (A_a + d [s = a]) / Z] + const
    const, w2z = (w * z2_a).sum(-1), 2 * w * z2_a                                      # (p,), (p, b)
    events_ = torch.arange(B).unsqueeze(0)
    out = [torch.empty(P, P, dtype=DTYPE) for _ in steps]
    for c0 in range(0, P, chunk):
        sl = slot[c0:c0 + chunk]                                                       # (n, b)
        alpha_s = sm.alpha[:, events_, sl].transpose(0, 1)                             # (n, p, b)
        z2_s = z2.gather(1, sl.T).T.unsqueeze(1)                                       # (n, 1, b)
        cross = 2 * z2_s * A[:, events_, sl].transpose(0, 1)
        d1 = sm.W.T[c0:c0 + chunk].unsqueeze(-1) * alpha_s * present[c0:c0 + chunk].unsqueeze(1)
        in_target = (sl.unsqueeze(1) == a_pb).to(DTYPE)
        for o, h in zip(out, steps):
            d = d1 * math.expm1(h)
            Z = total + d
            inv = torch.where(Z > 0, Z, 1.0).reciprocal_()
            num = (sq + d * (cross + d * z2_s)) * inv * inv
            o[:, c0:c0 + chunk] = (w * num - w2z * (A_a + d * in_target) * inv).sum(-1).T + const.unsqueeze(1)
    return out


def row_differences(coordinate: str, inst: Instance, Phi, Ups, batch: Batch, Q: torch.Tensor):
    """Central differences of the row losses L_p (SPEC LEM-G3) along every column.

    ``fp`` / ``pp``: the coordinate loss (:mod:`proofcheck.setting.coords`, area-softmax
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
