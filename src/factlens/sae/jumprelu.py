"""JumpReLU SAE (Rajamanoharan et al. 2024, arXiv 2407.14435).

    z = (x - b_dec) W_enc + b_enc;   f = z * H(z - theta)   (theta > 0, learned, fp32)
    loss = ||x - x_hat||^2 + lambda * sum_i H(z_i - theta_i)          (an L0 penalty)

H has no useful gradient, so theta learns through straight-through estimators with a
rectangle kernel K(u) = 1[|u| < 1/2] of bandwidth eps:
    d JumpReLU / d theta = -(theta / eps) K((z - theta) / eps)
    d H(z - theta) / d theta = -(1 / eps) K((z - theta) / eps)
and z gets the ordinary masked gradient (none through H). theta is learned directly,
not as log(theta): under Adam the log parametrisation nearly freezes it.
"""

from __future__ import annotations

import torch
from torch import nn

from factlens.sae.base import SparseAutoencoder


def rectangle(u: torch.Tensor) -> torch.Tensor:
    return (u.abs() < 0.5).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return z * (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, theta = ctx.saved_tensors
        grad_z = grad * (z > theta).to(z.dtype)
        grad_theta = -(theta / ctx.eps) * rectangle((z - theta) / ctx.eps) * grad
        return grad_z, grad_theta.sum_to_size(theta.shape), None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, theta = ctx.saved_tensors
        grad_theta = -(1.0 / ctx.eps) * rectangle((z - theta) / ctx.eps) * grad
        return torch.zeros_like(z), grad_theta.sum_to_size(theta.shape), None


def jumprelu(z: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
    return _JumpReLU.apply(z, theta, eps)


def step(z: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
    return _Step.apply(z, theta, eps)


class JumpReLUSAE(SparseAutoencoder):
    architecture = "jumprelu"

    def __init__(self, d_in: int, d_sae: int, seed: int = 0, bandwidth: float = 0.001,
                 threshold_init: float = 0.001):
        super().__init__(d_in, d_sae, seed)
        self.bandwidth = bandwidth
        self.threshold = nn.Parameter(torch.full((d_sae,), threshold_init, dtype=torch.float32))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return jumprelu(self.pre_activations(x), self.threshold, self.bandwidth)

    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict]:
        z = self.pre_activations(x)
        f = jumprelu(z, self.threshold, self.bandwidth)
        reconstruction = self.reconstruction_error(x, self.decode(f))
        l0 = step(z, self.threshold, self.bandwidth).sum(-1).mean()
        return reconstruction + sparsity_coefficient * l0, {
            "reconstruction": reconstruction, "sparsity": l0}

    @torch.no_grad()
    def after_step(self) -> None:
        super().after_step()
        self.threshold.clamp_(min=1e-6)  # theta > 0

    def extra_config(self) -> dict:
        return {"bandwidth": self.bandwidth}
