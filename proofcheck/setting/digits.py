"""EXP-1's claim on real images (SPEC §10 [V]): scikit-learn's bundled 8 x 8 digits (no download), cut into
patches, and a one-layer softmax attention with trainable patch and position embeddings, trained by masked
reconstruction (MAE) and by the contrastive objective of :mod:`proofcheck.setting.contrastive` with the same
architecture, initialisation, optimiser and budget.

The model mirrors the synthetic one (SPEC DEF-MODEL), with the embeddings learned instead of orthonormal:
token_q = W x~_q + e_q (patch embedding W, position embedding e_q, masked content x~_q = 0), every query p
queries with its position embedding, attn_{p->q} = softmax_q(e_p^T Q token_q) over all positions (key set
B), and the output is F_p = sum_q attn_{p->q} x~_q in pixel space (values carry content only).  MAE:
1/2 sum_{p in M} ||F_p - x_p||^2 per image; CL: InfoNCE of the mean output over all positions of two masked
views.  Trained with Adam on minibatches (SPEC's GD is for the synthetic theory; real images need minibatches),
float64 throughout.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from proofcheck.errors import UsageError
from proofcheck.setting.contrastive import CLConfig, info_nce
from proofcheck.setting.diversity import pairwise_diversity
from proofcheck.setting.instance import DTYPE
from proofcheck.setting.measures import Estimate
from proofcheck.setting.sampling import Batch
from proofcheck.setting.trainer import cpu_threads

SIDE = 8


@functools.lru_cache(maxsize=1)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) in [0, 1], labels (1797,)): scikit-learn's bundled copy of the UCI digits
    (pixel counts 0..16 scaled by 1/16)."""
    from sklearn.datasets import load_digits as sk_load

    data = sk_load()
    return data.images.astype(np.float64) / 16.0, data.target.astype(np.int64)


def to_patches(images: np.ndarray | torch.Tensor, patch: int = 2) -> torch.Tensor:
    """(n, P, patch^2) non-overlapping patch x patch squares in row-major order, P = (8 / patch)^2."""
    if SIDE % patch:
        raise UsageError(f"patch size must divide {SIDE}, got {patch}")
    x = torch.as_tensor(images, dtype=DTYPE)
    g = SIDE // patch
    return x.reshape(-1, g, patch, g, patch).permute(0, 1, 3, 2, 4).reshape(-1, g * g, patch * patch)


@dataclass(frozen=True)
class DigitsConfig:
    """One budget of the real-image check: ``seeds`` independent (initialisation, minibatch, mask) seeds,
    ``steps`` Adam steps of learning rate ``lr`` on minibatches of ``batch`` images from the training split,
    embedding width ``d``, mask ratio ``gamma`` (both objectives, both CL views), evaluation on ``test``
    held-out images with one mask each; ``cl`` the CL objective ([R] defaults, all-position pooling)."""

    seeds: tuple = (0, 1, 2)
    steps: int = 300
    lr: float = 0.01
    batch: int = 256
    d: int = 16
    patch: int = 2
    gamma: float = 0.5
    test: int = 400
    cl: CLConfig = field(default_factory=lambda: CLConfig(negatives=15, groups=16))

    def __post_init__(self):
        if self.batch % (self.cl.negatives + 1):
            raise UsageError(f"batch {self.batch} must be a multiple of negatives + 1 = {self.cl.negatives + 1}")
        if not 0 < self.gamma < 1:
            raise UsageError(f"gamma must be in (0, 1), got {self.gamma!r}")


class DigitsAttention(torch.nn.Module):
    """One model per generator of the one-layer softmax attention of the module docstring, trained side by
    side: ``W`` (S, patch^2, d), ``pos`` (S, P, d) and ``Q`` (S, d, d) hold model s at index s.  W and pos
    start as Gaussians of scale 1/sqrt(d) drawn from the model's own generator, Q at 0 (uniform attention,
    as the synthetic model's Q(0) = 0).  The models never mix: a loss is their sum and Adam is elementwise,
    so each trains exactly as it would alone (one batched step costs about what one model's step does)."""

    def __init__(self, P: int, patch_dim: int, d: int, generators: list[torch.Generator]):
        super().__init__()
        s = 1 / math.sqrt(d)
        draws = [(torch.randn(patch_dim, d, dtype=DTYPE, generator=g), torch.randn(P, d, dtype=DTYPE, generator=g))
                 for g in generators]
        self.W = torch.nn.Parameter(s * torch.stack([w for w, _ in draws]))
        self.pos = torch.nn.Parameter(s * torch.stack([e for _, e in draws]))
        self.Q = torch.nn.Parameter(torch.zeros(len(generators), d, d, dtype=DTYPE))

    def attention(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(S, B, P, P) attn_{p->q} of every model for patches ``x`` with ``mask`` True where masked:
        (B, P, D) and (B, P) shared by the models, or (S, B, P, D) and (S, B, P), one batch per model."""
        x_tilde = x * (~mask).unsqueeze(-1)
        tokens = x_tilde @ self.W.unsqueeze(1) + self.pos.unsqueeze(1)
        return torch.softmax((self.pos @ self.Q).unsqueeze(1) @ tokens.transpose(-1, -2), -1)

    def outputs(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.attention(x, mask) @ (x * (~mask).unsqueeze(-1))


def mae_loss(model: DigitsAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(S,) 1/2 sum_{p in M} ||F_p - x_p||^2 per model, averaged over images (SPEC DEF-LOSS-MAE on patches)."""
    return 0.5 * (((model.outputs(x, mask) - x) ** 2).sum(-1) * mask).sum(-1).mean(-1)


def cl_loss(model: DigitsAttention, x: torch.Tensor, mask: torch.Tensor, mask2: torch.Tensor,
            cl: CLConfig) -> torch.Tensor:
    """(S,) InfoNCE (:func:`proofcheck.setting.contrastive.info_nce`) of the mean outputs of two masked
    views, per model."""
    h1, h2 = model.outputs(x, mask).mean(-2), model.outputs(x, mask2).mean(-2)
    return torch.stack([info_nce(a, b, cl) for a, b in zip(h1, h2)])


def split(n: int, test: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed train / test split (seed 0), the same for every training seed and objective."""
    order = np.random.default_rng(0).permutation(n)
    return order[test:], order[:test]


def train(objective: str, cfg: DigitsConfig, seeds: list[int]) -> DigitsAttention:
    """Train one model per seed on the training split with the objective ("mae" or "cl").  Each seed's
    generator draws its initialisation, minibatches and masks in the order a lone run would."""
    images, _ = load_digits()
    train_idx, _ = split(len(images), cfg.test)
    x_all = to_patches(images[train_idx], cfg.patch)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    model = DigitsAttention(x_all.shape[1], x_all.shape[2], cfg.d, gens)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    cl = replace(cfg.cl, groups=cfg.batch // (cfg.cl.negatives + 1))

    def draw(g):
        x = x_all[torch.randint(len(x_all), (cfg.batch,), generator=g)]
        masks = [torch.rand(x.shape[:2], dtype=DTYPE, generator=g) < cfg.gamma
                 for _ in range(1 if objective == "mae" else 2)]
        return x, masks
    with cpu_threads(1):
        for _ in range(cfg.steps):
            xs, masks = zip(*(draw(g) for g in gens))
            x = torch.stack(xs)
            views = [torch.stack([m[i] for m in masks]) for i in range(len(masks[0]))]
            loss = mae_loss(model, x, *views) if objective == "mae" else cl_loss(model, x, *views, cl)
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
    return model


def test_views(cfg: DigitsConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(patches, masks) of the held-out images, one mask each (seed 1), shared by every model."""
    images, _ = load_digits()
    _, test_idx = split(len(images), cfg.test)
    x = to_patches(images[test_idx], cfg.patch)
    return x, torch.rand(x.shape[:2], dtype=DTYPE, generator=torch.Generator().manual_seed(1)) < cfg.gamma


def diversity(attn: torch.Tensor, mask: torch.Tensor, metric: str) -> Estimate:
    """:func:`proofcheck.setting.diversity.pairwise_diversity` over the masked queries of each image (both
    objectives train them), with a 95% interval over images."""
    n = attn.shape[0]
    batch = Batch(torch.zeros(n, dtype=torch.long), torch.ones(n, 1, dtype=DTYPE), mask,
                  torch.full((n,), 1.0 / n, dtype=DTYPE), exact=False)
    return pairwise_diversity(attn, mask, batch, metric)


def neighbourhood_attention(mask: torch.Tensor, patch: int = 2) -> torch.Tensor:
    """(B, P, P) a local reference: each query uniform on the patches of its 3 x 3 neighbourhood in the
    patch grid (itself included), whatever the mask."""
    g = SIDE // patch
    r, c = torch.arange(g).repeat_interleave(g), torch.arange(g).repeat(g)
    near = ((r[:, None] - r[None, :]).abs() <= 1) & ((c[:, None] - c[None, :]).abs() <= 1)
    row = near.to(DTYPE) / near.sum(1, keepdim=True)
    return row.expand(mask.shape[0], -1, -1)
