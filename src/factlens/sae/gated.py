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

from factlens.sae.base import SparseAutoencoder, indicator


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
        pi_gate, magnitude = self.gate_and_magnitude(x)
        f = indicator("gt", pi_gate, 0.0) * magnitude
        reconstruction = self.reconstruction_error(x, self.decode(f))
        gate_activity = torch.relu(pi_gate)
        sparsity = gate_activity.sum(-1).mean()
        frozen = gate_activity @ self.W_dec.detach() + self.b_dec.detach()
        auxiliary = self.reconstruction_error(x, frozen)
        return reconstruction + sparsity_coefficient * sparsity + auxiliary, {
            "reconstruction": reconstruction, "sparsity": sparsity, "auxiliary": auxiliary}, f

    def jumprelu_threshold(self) -> torch.Tensor:
        """The equivalent JumpReLU threshold on the magnitude pre-activation."""
        return self.b_mag - self.r_mag.exp() * self.b_gate
