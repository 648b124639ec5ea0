"""Gated SAE (Rajamanoharan et al. 2024, arXiv 2404.16014).

    pi_gate = (x - b_dec) W_gate + b_gate;             f_gate = 1[pi_gate > 0]
    pi_mag  = (x - b_dec) (W_gate * exp(r_mag)) + b_mag
    f = f_gate * ReLU(pi_mag);                          x_hat = f W_dec + b_dec
    loss = ||x - x_hat||^2 + lambda ||ReLU(pi_gate)||_1 + ||x - x_hat_frozen(ReLU(pi_gate))||^2

x_hat_frozen decodes with stop-gradient copies of W_dec and b_dec (the paper's
ablation: letting the auxiliary term train the decoder hurts). W_gate is stored as
W_enc and b_gate as b_enc, as SAELens does; the SAE equals a JumpReLU with threshold
theta = b_mag - exp(r_mag) * b_gate.
"""

from __future__ import annotations

import torch
from torch import nn

from factlens.sae.base import (SparseAutoencoder, indicator, is_column_major, latent_gradient,
                              relu_backward_, weight_gradient)


class _GatedCodeDecoded(torch.autograd.Function):
    """From pi = x W_gate + offset: the code f = 1[pi + b_gate > 0] ReLU(pi scale + b_mag)
    decoded (f W_dec), the gate's activity ReLU(pi + b_gate) decoded by a frozen W_dec and
    summed per token, and f (without gradient); the [tokens x latents] backward in place
    (base.fused_kernels)."""

    @staticmethod
    def forward(ctx, x, W_gate, offset, b_gate, scale, b_mag, W_dec):
        projected = torch.addmm(offset, x, W_gate)
        magnitude = torch.addcmul(b_mag, projected, scale).clamp_min_(0.0)
        gate_activity = (projected + b_gate).clamp_min_(0.0)
        gate = indicator("gt", gate_activity, 0.0)  # ReLU(pi_gate) > 0 iff pi_gate > 0
        f = gate * magnitude
        ctx.save_for_backward(x, W_dec, projected, scale, magnitude, gate_activity, gate, f)
        ctx.column_major = is_column_major(W_gate), is_column_major(W_dec)
        ctx.mark_non_differentiable(f)
        ctx.set_materialize_grads(False)
        return f.mm(W_dec), gate_activity.mm(W_dec), gate_activity.sum(-1), f

    @staticmethod
    def backward(ctx, grad_decoded, grad_frozen_decoded, grad_l1, _):
        x, W_dec, projected, scale, magnitude, gate_activity, gate, f = ctx.saved_tensors
        # magnitude path: through the gate (a 0/1 mask) and the magnitude's ReLU
        grad_magnitude = latent_gradient(grad_decoded, W_dec, None, f).mul_(gate)
        relu_backward_(grad_magnitude, magnitude)
        grad_b_mag, grad_scale = grad_magnitude.sum(0), (grad_magnitude * projected).sum(0)
        # gate path: the frozen decoder and the L1 penalty, through ReLU(pi_gate)
        grad_gate = relu_backward_(latent_gradient(grad_frozen_decoded, W_dec, grad_l1, f), gate_activity)
        grad_b_gate = grad_gate.sum(0)
        grad_projected = grad_magnitude.mul_(scale).add_(grad_gate)
        grad_W_dec = weight_gradient(f, grad_decoded, ctx.column_major[1]) if grad_decoded is not None else None
        return (None, weight_gradient(x, grad_projected, ctx.column_major[0]), grad_projected.sum(0), grad_b_gate,
                grad_scale, grad_b_mag, grad_W_dec)


class GatedSAE(SparseAutoencoder):
    architecture = "gated"

    def __init__(self, d_in: int, d_sae: int, seed: int = 0):
        super().__init__(d_in, d_sae, seed)
        del self.b_enc
        self.b_gate = nn.Parameter(torch.zeros(d_sae))
        self.r_mag = nn.Parameter(torch.zeros(d_sae))
        self.b_mag = nn.Parameter(torch.zeros(d_sae))

    def gate_and_magnitude(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pi_gate and ReLU(pi_mag). W_gate * exp(r_mag) only rescales columns, so one
        matmul serves both: (x - b_dec)(W_gate * exp(r_mag)) = ((x - b_dec) W_gate) * exp(r_mag)."""
        projected = self.project(x)
        return projected + self.b_gate, torch.relu(torch.addcmul(self.b_mag, projected, self.r_mag.exp()))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pi_gate, magnitude = self.gate_and_magnitude(x)
        return indicator("gt", pi_gate, 0.0) * magnitude

    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict, torch.Tensor]:
        if self.runs_fused_kernels(x):
            decoded, frozen_decoded, gate_l1, f = _GatedCodeDecoded.apply(
                x, self.W_enc, self.encoder_offset(), self.b_gate, self.r_mag.exp(), self.b_mag, self.W_dec)
            x_hat = decoded + self.b_dec
        else:
            pi_gate, magnitude = self.gate_and_magnitude(x)
            f = indicator("gt", pi_gate, 0.0) * magnitude
            x_hat, gate_activity = self.decode(f), torch.relu(pi_gate)
            frozen_decoded, gate_l1 = gate_activity @ self.W_dec.detach(), gate_activity.sum(-1)
        reconstruction = self.reconstruction_error(x, x_hat)
        sparsity = gate_l1.mean()
        auxiliary = self.reconstruction_error(x, frozen_decoded + self.b_dec.detach())
        return reconstruction + sparsity_coefficient * sparsity + auxiliary, {
            "reconstruction": reconstruction, "sparsity": sparsity, "auxiliary": auxiliary}, f

    def jumprelu_threshold(self) -> torch.Tensor:
        """The equivalent JumpReLU threshold on the magnitude pre-activation."""
        return self.b_mag - self.r_mag.exp() * self.b_gate
