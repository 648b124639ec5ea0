"""TopK SAE (Gao et al. 2024; beyond the two papers, as a reference point).

    f = ReLU(TopK_k((x - b_dec) W_enc + b_enc));  loss = ||x - x_hat||^2
Sparsity is set by k, not by a penalty, so the sweep is over k.
"""

from __future__ import annotations

import torch

from factlens.sae.base import SparseAutoencoder


class TopKSAE(SparseAutoencoder):
    architecture = "topk"

    def __init__(self, d_in: int, d_sae: int, seed: int = 0, k: int = 8):
        super().__init__(d_in, d_sae, seed)
        if not 1 <= k <= d_sae:
            raise ValueError(f"TopK SAE needs 1 <= k <= d_sae, got k={k}, d_sae={d_sae}")
        self.k = k

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_activations(x)
        values, indices = pre.topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))

    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict]:
        reconstruction = self.reconstruction_error(x, self.decode(self.encode(x)))
        return reconstruction, {"reconstruction": reconstruction}

    def extra_config(self) -> dict:
        return {"k": self.k}
