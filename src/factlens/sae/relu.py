"""Baseline SAE (Gated SAE paper, §2): ReLU encoder, L1 penalty, unit-norm decoder.

    f = ReLU((x - b_dec) W_enc + b_enc);  x_hat = f W_dec + b_dec
    loss = ||x - x_hat||^2 + lambda * ||f||_1
"""

from __future__ import annotations

import torch

from factlens.sae.base import (SparseAutoencoder, is_column_major, latent_gradient, relu_backward_,
                              weight_gradient)


class _ReLUCodeDecoded(torch.autograd.Function):
    """f = ReLU(x W_enc + offset), then f W_dec and ||f||_1 per token (and f, without
    gradient), with the [tokens x latents] backward in place (base.fused_kernels)."""

    @staticmethod
    def forward(ctx, x, W_enc, offset, W_dec):
        f = torch.addmm(offset, x, W_enc).clamp_min_(0.0)
        ctx.save_for_backward(x, W_dec, f)
        ctx.column_major = is_column_major(W_enc), is_column_major(W_dec)
        ctx.mark_non_differentiable(f)
        ctx.set_materialize_grads(False)
        return f.mm(W_dec), f.sum(-1), f

    @staticmethod
    def backward(ctx, grad_decoded, grad_l1, _):
        x, W_dec, f = ctx.saved_tensors
        grad_pre = relu_backward_(latent_gradient(grad_decoded, W_dec, grad_l1, f), f)
        grad_W_dec = weight_gradient(f, grad_decoded, ctx.column_major[1]) if grad_decoded is not None else None
        return None, weight_gradient(x, grad_pre, ctx.column_major[0]), grad_pre.sum(0), grad_W_dec


class ReLUSAE(SparseAutoencoder):
    architecture = "standard"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pre_activations(x))

    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict, torch.Tensor]:
        if self.runs_fused_kernels(x):
            decoded, l1, f = _ReLUCodeDecoded.apply(x, self.W_enc, self.encoder_offset(self.b_enc), self.W_dec)
            x_hat = decoded + self.b_dec
        else:
            f = self.encode(x)
            x_hat, l1 = self.decode(f), f.sum(-1)  # ||f||_1: f >= 0 after the ReLU, so no abs
        reconstruction = self.reconstruction_error(x, x_hat)
        sparsity = l1.mean()
        return reconstruction + sparsity_coefficient * sparsity, {
            "reconstruction": reconstruction, "sparsity": sparsity}, f
