"""Mask-count laws and the expectation of one row's loss over them (SPEC DEF-MASK, DEF-CORR, LEM-G4, LEM-G8).

One *problem* is the loss of one query row p in one cluster k, conditioned on p in M.  Keys are grouped
in classes (keys that play the same role for p, SPEC LEM-G9) of n_c keys sharing one PP logit; the loss
depends on the mask only through the number u_c of visible keys of each class.  Each area of the cluster
contributes S_j = sum_c u_c exp(Ups_c) over its classes; the area's *atoms* are its count vectors (u_c)
together with a value of its z, so the expectation is a sum over the product grid of the areas' atoms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from proofcheck.setting.instance import DTYPE, ZLaw

#: Per area, atoms whose exact probabilities add up to at most this are left out (the least likely
#: first).  The neglected probability of a problem is at most the sum over its areas (union bound);
#: times the integrand bounds of :func:`integrand_bound` it stays far below 1e-12.
TAIL_MASS = 1e-15
#: grid points evaluated at once: Z^-1, Z^-2, Z^-3 of one chunk take ~ 25 MB
CHUNK_POINTS = 1 << 20


@dataclass(frozen=True)
class MaskLaw:
    """The law of the visible-key counts given p in M (SPEC DEF-MASK): independent binomials
    Bin(n_c, 1 - gamma) for Bernoulli masks, a multivariate hypergeometric (P - m of the other
    P - 1 positions visible, m = floor(gamma P)) for fixed-size masks."""

    kind: str
    gamma: float
    P: int

    @property
    def p_masked(self) -> float:
        """P(p in M)."""
        if self.kind == "bernoulli":
            return self.gamma
        return math.floor(self.gamma * self.P) / self.P

    def class_counts(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(counts u, log-weights) of one class of n keys: log Bin(u; n, 1 - gamma) for Bernoulli
        masks, log C(n, u) for fixed-size ones (normalised on the grid, :meth:`grid_log_norm`)."""
        u = torch.arange(n + 1, dtype=DTYPE)
        logc = torch.lgamma(torch.tensor(n + 1.0, dtype=DTYPE)) - torch.lgamma(u + 1) - torch.lgamma(n - u + 1)
        if self.kind != "bernoulli":
            return u, logc
        return u, logc + torch.xlogy(u, torch.tensor(1 - self.gamma, dtype=DTYPE)) \
            + torch.xlogy(n - u, torch.tensor(self.gamma, dtype=DTYPE))

    def grid_log_norm(self) -> float:
        """Log of the normaliser of the count weights: 0 (Bernoulli) or log C(P - 1, P - m)."""
        if self.kind == "bernoulli":
            return 0.0
        m = math.floor(self.gamma * self.P)
        return math.lgamma(self.P) - math.lgamma(self.P - m + 1) - math.lgamma(m)

    def visible_total(self) -> int | None:
        """The number of visible keys every count vector must have (fixed size), else None."""
        return None if self.kind == "bernoulli" else self.P - math.floor(self.gamma * self.P)


def mask_law(kind: str, gamma: float, P: int) -> MaskLaw:
    """The count law of the instance's mask model (SPEC DEF-MASK)."""
    return MaskLaw(kind, gamma, P)


@dataclass
class AreaAtoms:
    """The atoms of one area: ``u`` (A, C) visible counts of its C classes, ``z`` (A,), ``logp`` (A,)."""

    u: torch.Tensor
    z: torch.Tensor
    logp: torch.Tensor
    neglected: float


def area_atoms(sizes: list[int], z: ZLaw, law: MaskLaw) -> AreaAtoms:
    """Cartesian product of the classes' counts and the z values of one area.  Bernoulli masks: the
    least likely atoms are left out while their probabilities add up to at most TAIL_MASS (exact sums)."""
    per_class = [law.class_counts(n) for n in sizes]
    if per_class:
        grids = torch.meshgrid(*[c[0] for c in per_class], indexing="ij")
        u = torch.stack([g.reshape(-1) for g in grids], 1)
        lw = torch.meshgrid(*[c[1] for c in per_class], indexing="ij")
        logp = sum(g.reshape(-1) for g in lw)
    else:
        u, logp = torch.zeros(1, 0, dtype=DTYPE), torch.zeros(1, dtype=DTYPE)
    zv = torch.tensor(z.values, dtype=DTYPE)
    lz = torch.log(torch.tensor(z.probs, dtype=DTYPE))
    A, nz = u.shape[0], zv.numel()
    u, zv, logp = u.repeat(nz, 1), zv.repeat_interleave(A), logp.repeat(nz) + lz.repeat_interleave(A)
    if law.kind != "bernoulli":
        return AreaAtoms(u, zv, logp, 0.0)
    pmf = torch.exp(logp)
    order = torch.argsort(pmf)
    drop = order[torch.cumsum(pmf[order], 0) <= TAIL_MASS]
    keep = torch.ones(pmf.numel(), dtype=torch.bool)
    keep[drop] = False
    return AreaAtoms(u[keep], zv[keep], logp[keep], float(pmf[drop].sum()))


@dataclass
class ProblemResult:
    """One problem's expected loss contribution and its derivatives: ``dphi`` (N,) by the FP
    logit of each area, ``dups`` per area by the common PP logit of each class (the sum over the
    class's keys), ``dself`` by the query's own PP logit; ``neglected`` probability; ``points``."""

    loss: float
    dphi: list[float]
    dups: list[list[float]]
    dself: float
    neglected: float
    points: int


def integrand_bound(z_max: float) -> float:
    """Bound on the per-event integrands (SPEC DEF-CORR residuals): 1/2 ||r_p||^2 <= z_max^2,
    |z_j A_j (z_j^2 (delta - A_j) + R_p)| <= 2 z_max^3 and the sum over a class of
    attn |<x_p - F_p, x~_q - F_p>| <= 2 z_max^2 (|R_p| <= z_max^2, attention sums to <= 1)."""
    return max(z_max**2, 2 * z_max**3, 2 * z_max**2)


def n_points(areas: list[AreaAtoms]) -> int:
    return math.prod(a.z.numel() for a in areas)


def expect(areas: list[AreaAtoms], sizes: list[list[int]], ups: list[list[float]], phi: list[float],
           self_ups: float, variant_b: bool, law: MaskLaw, norm: str, device) -> ProblemResult:
    """E[c(|M|) 1/2 ||r_p||^2 | p in M] P(p in M) over the product grid of the areas' atoms (area 0 is
    the query's target area), and its derivatives by the logits, from LEM-G4 (FP) and LEM-G8 (PP)
    summed over each class:

    d/dphi_j = E[z_j A_j (g_j - R)], d/dups_c = E[w_c/Z (u_c e_j (g_j - R) - b R (n_c - u_c))],
    g_j = z_j^2 (A_j - delta_j0), R = sum_j g_j A_j; b = 1 for masked keys (variant B), else 0.

    With beta_j = e_j S_j, A_j = beta_j / Z and T2 = sum_j z_j^2 beta_j^2, every integrand is a sum of
    (factor of the first areas) x (factor of the last area) x Z^-k, k = 1, 2, 3, so the sums over the
    last area are matrix products (the grid is never built elementwise more than Z^-k)."""
    grid = _grid(areas, sizes, ups, phi, self_ups, variant_b, law, device)
    areas, N, w, w_self, b, W, u, z, S, e, beta, U, pr, shape, rows = (
        grid.areas, grid.N, grid.w, grid.w_self, grid.b, grid.W, grid.u, grid.z, grid.S, grid.e, grid.beta,
        grid.U, grid.pr, grid.shape, grid.rows)
    zero = [torch.zeros_like(t) for t in S[:-1]]
    X = b * W + rows([(ej - b) * sj for ej, sj in zip(e[:-1], S[:-1])])
    pi_r = torch.exp(rows([torch.log(p) for p in pr[:-1]])) * law.p_masked
    T2r = rows([zj**2 * bj**2 for zj, bj in zip(z[:-1], beta[:-1])])
    zt2 = rows([z[0] ** 2] + zero[1:])
    zbt = rows([z[0] ** 2 * beta[0]] + zero[1:])
    e_r = [rows([e[j] if i == j else torch.zeros_like(e[i]) for i in range(N - 1)]) for j in range(N - 1)]
    zb_r = [rows([z[j] ** 2 * beta[j] if i == j else zero[i] for i in range(N - 1)]) for j in range(N - 1)]
    U_r = rows(U[:-1])
    Y = (e[-1] - b) * S[-1]
    pi_c, T2c = pr[-1], z[-1] ** 2 * beta[-1] ** 2
    m_r, q_r = [torch.zeros_like(X) for _ in range(N - 1)], torch.zeros_like(X)
    m_c, q_c = torch.zeros_like(Y), torch.zeros_like(Y)
    loss = 0.0
    separable = law.visible_total() is None and norm != "M"
    groups = [torch.arange(Y.numel(), device=device)] if separable else \
        [(U[-1] == v).nonzero().squeeze(1) for v in torch.unique(U[-1])]
    step = max(1, CHUNK_POINTS // Y.numel())
    for g in groups:
        Yg, pcg, T2g = Y[g], pi_c[g], T2c[g]
        cols = torch.stack([pcg, pcg * T2g], 1)
        for lo in range(0, X.numel(), step):
            sl = slice(lo, lo + step)
            kappa = normalisation_factor(norm, law.P - U_r[sl] - U[-1][g[0]], law.P)
            if law.visible_total() is not None:
                kappa = kappa * (U_r[sl] + U[-1][g[0]] == law.visible_total())
            wr = pi_r[sl] * kappa
            Z1 = torch.add(X[sl, None], Yg[None, :])
            if variant_b:   # Z >= b W > 0
                Z1.reciprocal_()
            else:           # U empty: no key, F_p = 0 (SPEC DEF-LOSS-MAE), so Z^-1 counts as 0
                Z1 = torch.where(Z1 > 0, 1.0 / torch.where(Z1 > 0, Z1, 1.0), 0.0)
            Z2 = Z1 * Z1
            Z3 = Z2 * Z1
            R1 = Z1 @ pcg
            R2 = Z2 @ cols
            R3 = Z3 @ cols
            loss += float((wr * (T2r[sl] * R2[:, 0] + R2[:, 1] - 2 * zbt[sl] * R1 + zt2[sl] * pcg.sum())).sum())
            core = -T2r[sl] * R3[:, 0] - R3[:, 1] + zbt[sl] * R2[:, 0]
            for j in range(N - 1):
                mj = zb_r[j][sl] * R2[:, 0] + core - (zt2[sl] * R1 if j == 0 else 0.0)
                m_r[j][sl] += wr * e_r[j][sl] * mj
            q_r[sl] -= wr * core
            L = torch.stack([wr, wr * T2r[sl], wr * zbt[sl]])
            C2, C3 = L @ Z2, L @ Z3
            m_c[g] += pcg * e[-1][g] * (z[-1][g] ** 2 * beta[-1][g] * C2[0] - C3[1] - T2g * C3[0] + C2[2])
            q_c[g] += pcg * (C3[1] + T2g * C3[0] - C2[2])
    m = [marginal(mr, shape, j) for j, mr in enumerate(m_r)] + [m_c]
    q = [marginal(q_r, shape, j) for j in range(N - 1)] + [q_c]
    dphi = [float((zj * sj * mj).sum()) for zj, sj, mj in zip(z, S, m)]
    dups = []
    for uj, n, wj, mj, qj in zip(u, grid.sizes, w, m, q):
        n_t = torch.tensor(n, dtype=DTYPE, device=device)
        dups.append((wj * (uj.T @ mj - b * ((n_t.unsqueeze(1) - uj.T) @ qj))).tolist())
    dself = -w_self * b * float(q_c.sum())
    return ProblemResult(0.5 * loss, dphi[:grid.n_real], dups[:grid.n_real], dself,
                         sum(a.neglected for a in areas), n_points(areas))


def marginal(t: torch.Tensor, shape: list[int], j: int) -> torch.Tensor:
    """Sum of a flattened tensor of the given shape over every axis but j."""
    others = [i for i in range(len(shape)) if i != j]
    t = t.reshape(shape)
    return t.sum(others) if others else t


def normalisation_factor(norm: str, masked: torch.Tensor, P: int) -> torch.Tensor:
    """c(|M|) of the loss normalisation (SPEC §12 item 2): 1, 1/P or 1/|M| (|M| >= 1 as p in M)."""
    if norm == "none":
        return torch.ones_like(masked)
    if norm == "P":
        return torch.full_like(masked, 1.0 / P)
    return 1.0 / masked


def product_sizes(class_sizes: list[int]) -> int:
    """Number of count vectors of classes of these sizes, before truncation."""
    return math.prod(n + 1 for n in class_sizes)


@dataclass
class Grid:
    """The product grid of one problem's atoms, split into the first N - 1 areas (flattened "rows",
    ``rows(per-area values)`` spreads per-area values over them) and the last area (the columns):
    per area the visible-class weights ``w`` (PP logits, shifted), counts ``u``, z values, S_j = u.w,
    e_j = exp(z_j phi_j) (shifted), beta_j = e_j S_j, visible totals U_j and probabilities ``pr``;
    ``b`` weighs the masked keys (0 in key set A) and W is the total key weight."""

    areas: list
    sizes: list
    N: int
    w: list
    w_self: float
    b: float
    W: float
    u: list
    z: list
    S: list
    e: list
    beta: list
    U: list
    pr: list
    shape: list
    rows: object

    @property
    def n_real(self) -> int:
        """The number of the problem's areas (without the dummy last area of a one-area problem)."""
        return self.N if self.sizes[-1] or len(self.S[-1]) > 1 else self.N - 1


def _grid(areas, sizes, ups, phi, self_ups, variant_b, law, device) -> Grid:
    if len(areas) == 1:  # a dummy last area with one empty atom keeps the target among the first areas
        areas = areas + [AreaAtoms(torch.zeros(1, 0, dtype=DTYPE), torch.zeros(1, dtype=DTYPE),
                                   torch.zeros(1, dtype=DTYPE), 0.0)]
        sizes, ups, phi = sizes + [[]], ups + [[]], phi + [0.0]
    N = len(areas)
    shift_u = max([self_ups] + [v for vs in ups for v in vs])
    w = [torch.exp(torch.tensor(vs, dtype=DTYPE) - shift_u).to(device) for vs in ups]
    w_self = math.exp(self_ups - shift_u)
    shift_e = max(0.0, max(float((a.z * f).max()) for a, f in zip(areas, phi)))
    b = math.exp(-shift_e) if variant_b else 0.0
    W = w_self + sum(float((torch.tensor(n, dtype=DTYPE).to(device) * wj).sum()) for n, wj in zip(sizes, w))
    u = [a.u.to(device) for a in areas]
    z = [a.z.to(device) for a in areas]
    S = [uj @ wj for uj, wj in zip(u, w)]
    e = [torch.exp(zj * f - shift_e) for zj, f in zip(z, phi)]
    beta = [ej * sj for ej, sj in zip(e, S)]
    U = [uj.sum(1) for uj in u]
    pr = [torch.exp(a.logp.to(device) - (law.grid_log_norm() if j == 0 else 0.0)) for j, a in enumerate(areas)]
    # the first N-1 areas, flattened ("rows"); the last area are the columns
    shape = [t.numel() for t in S[:-1]]

    def rows(vals):
        out = vals[0].reshape([-1] + [1] * (len(shape) - 1))
        for j, v in enumerate(vals[1:], 1):
            out = out + v.reshape([1] * j + [-1] + [1] * (len(shape) - j - 1))
        return out.expand(shape).reshape(-1)

    return Grid(areas, sizes, N, w, w_self, b, W, u, z, S, e, beta, U, pr, shape, rows)


@dataclass
class ProblemEvents:
    """One problem's event measures (SPEC LEM-G11, THM-MAIN-v1 items 1-2), each an expectation over
    p in M times P(p in M): the probabilities of the masked, the *avoidable* (the target area has a
    visible key) and the *hit* (avoidable and A_target >= 1 - eps) events, the loss
    c(|M|) 1/2 ||r_p||^2 on the avoidable and on the unavoidable events, and per area the summed masses
    E[A_j; p in M] and E[A_j; avoidable]."""

    masked: float
    avoidable: float
    hit: float
    loss_avoidable: float
    loss_unavoidable: float
    mass: list[float]
    mass_avoidable: list[float]
    neglected: float


def event_measures(areas: list[AreaAtoms], sizes: list[list[int]], ups: list[list[float]], phi: list[float],
                   self_ups: float, variant_b: bool, law: MaskLaw, norm: str, eps: float, device) -> ProblemEvents:
    """:class:`ProblemEvents` over the product grid of :func:`expect` (area 0 is the target area), with
    A_j = beta_j / Z and ||r_p||^2 = z_0^2 (1 - A_0)^2 + sum_{j >= 1} z_j^2 A_j^2 (SPEC DEF-CORR); in key set
    A an event without visible keys has F_p = 0 (Z^-1 counts as 0), as in the loss."""
    g = _grid(areas, sizes, ups, phi, self_ups, variant_b, law, device)
    N = g.N
    zero = [torch.zeros_like(t) for t in g.S[:-1]]

    def only(j, vals):
        return g.rows([vals if i == j else zero[i] for i in range(N - 1)])

    X = g.b * g.W + g.rows([(ej - g.b) * sj for ej, sj in zip(g.e[:-1], g.S[:-1])])
    Y = (g.e[-1] - g.b) * g.S[-1]
    pi_r = torch.exp(g.rows([torch.log(p) for p in g.pr[:-1]])) * law.p_masked
    beta_r = [only(j, g.beta[j]) for j in range(N - 1)]
    z0sq = only(0, g.z[0] ** 2)
    others_r = g.rows([zero[0]] + [zj**2 * bj**2 for zj, bj in zip(g.z[1:-1], g.beta[1:-1])])
    others_c = g.z[-1] ** 2 * g.beta[-1] ** 2
    U_r, U0 = g.rows(g.U[:-1]), only(0, g.U[0])
    acc = torch.zeros(5, dtype=DTYPE, device=device)
    mass, mass_av = torch.zeros(N, dtype=DTYPE, device=device), torch.zeros(N, dtype=DTYPE, device=device)
    step = max(1, CHUNK_POINTS // Y.numel())
    for lo in range(0, X.numel(), step):
        sl = slice(lo, lo + step)
        wgt = pi_r[sl, None] * g.pr[-1][None, :]
        visible = U_r[sl, None] + g.U[-1][None, :]
        if law.visible_total() is not None:
            wgt = wgt * (visible == law.visible_total())
        kappa = normalisation_factor(norm, law.P - visible, law.P)
        Z = X[sl, None] + Y[None, :]
        Zinv = torch.where(Z > 0, 1.0 / torch.where(Z > 0, Z, 1.0), 0.0)
        A0 = beta_r[0][sl, None] * Zinv
        r2 = z0sq[sl, None] * (1 - A0) ** 2 + (others_r[sl, None] + others_c[None, :]) * Zinv**2
        avoid = (U0[sl] > 0).to(DTYPE)[:, None]
        lost = 0.5 * wgt * kappa * r2
        acc += torch.stack([wgt.sum(), (wgt * avoid).sum(), (wgt * avoid * (A0 >= 1 - eps)).sum(),
                            (lost * avoid).sum(), (lost * (1 - avoid)).sum()])
        for out, m in ((mass, wgt * Zinv), (mass_av, wgt * Zinv * avoid)):
            rs = m.sum(1)
            out[: N - 1] += torch.stack([(b_r[sl] * rs).sum() for b_r in beta_r])
            out[N - 1] += (m.sum(0) * g.beta[-1]).sum()
    n = g.n_real
    return ProblemEvents(*acc.tolist(), mass[:n].tolist(), mass_av[:n].tolist(), sum(a.neglected for a in g.areas))
