"""Baseline SAE (Gated SAE paper, §2): ReLU encoder, L1 penalty, unit-norm decoder.

    f = ReLU((x - b_dec) W_enc + b_enc);  x_hat = f W_dec + b_dec
    loss = ||x - x_hat||^2 + lambda * ||f||_1
"""

from __future__ import annotations

import torch

from factlens.sae.base import SparseAutoencoder


class ReLUSAE(SparseAutoencoder):
    architecture = "standard"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pre_activations(x))

    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict, torch.Tensor]:
        f = self.encode(x)
        reconstruction = self.reconstruction_error(x, self.decode(f))
        sparsity = f.sum(-1).mean()  # ||f||_1: f >= 0 after the ReLU, so no abs (and its backward)
        return reconstruction + sparsity_coefficient * sparsity, {
            "reconstruction": reconstruction, "sparsity": sparsity}, f
