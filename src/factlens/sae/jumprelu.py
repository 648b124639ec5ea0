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

from factlens.sae.base import SparseAutoencoder, indicator


class _JumpReLUAndStep(torch.autograd.Function):
    """f = z H(z - theta) and H(z - theta) together, sharing one kernel evaluation."""

    @staticmethod
    def forward(ctx, z, theta, eps):
        active = indicator("gt", z, theta)  # H(z - theta) as 0/1 floats
        ctx.save_for_backward(z, theta, active)
        ctx.eps = eps
        return z * active, active

    @staticmethod
    def backward(ctx, grad_f, grad_step):
        z, theta, active = ctx.saved_tensors
        grad_z = grad_f * active  # H passes no gradient to z
        # d f / d theta = -(theta / eps) K(.),  d H / d theta = -(1 / eps) K(.), with
        # K((z - theta) / eps) = 1[|z - theta| < eps / 2]; in few elementwise passes, with
        # float masks instead of bool masks and `where` (`bench/sae_step.py --kernels`)
        in_kernel = indicator("lt", (z - theta).abs_(), 0.5 * ctx.eps)
        upstream = torch.addcmul(grad_step, grad_f, theta)  # theta * grad_f + grad_step
        grad_theta = upstream.mul_(in_kernel).sum_to_size(theta.shape)
        return grad_z, grad_theta.mul_(-1.0 / ctx.eps), None


def jumprelu_and_step(z: torch.Tensor, theta: torch.Tensor, eps: float):
    """(JumpReLU_theta(z), H(z - theta)) with the straight-through gradients above."""
    return _JumpReLUAndStep.apply(z, theta, eps)


def jumprelu(z: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
    return jumprelu_and_step(z, theta, eps)[0]


def step(z: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
    return jumprelu_and_step(z, theta, eps)[1]


class JumpReLUSAE(SparseAutoencoder):
    architecture = "jumprelu"

    def __init__(self, d_in: int, d_sae: int, seed: int = 0, bandwidth: float = 0.001,
                 threshold_init: float = 0.001):
        super().__init__(d_in, d_sae, seed)
        self.bandwidth = bandwidth
        self.threshold = nn.Parameter(torch.full((d_sae,), threshold_init, dtype=torch.float32))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return jumprelu(self.pre_activations(x), self.threshold, self.bandwidth)

    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict, torch.Tensor]:
        f, active = jumprelu_and_step(self.pre_activations(x), self.threshold, self.bandwidth)
        reconstruction = self.reconstruction_error(x, self.decode(f))
        l0 = active.sum(-1).mean()
        return reconstruction + sparsity_coefficient * l0, {
            "reconstruction": reconstruction, "sparsity": l0}, f

    @torch.no_grad()
    def after_step(self) -> None:
        super().after_step()
        self.threshold.clamp_(min=1e-6)  # theta > 0

    def extra_config(self) -> dict:
        return {"bandwidth": self.bandwidth}
