"""TopK SAE (Gao et al. 2024, arXiv 2406.04093), with their auxiliary loss on dead latents.

    f = ReLU(TopK_k((x - b_dec) W_enc + b_enc));  loss = ||x - x_hat||^2 + alpha * L_aux
Sparsity is set by k, not by a penalty, so the sweep is over k. AuxK: a latent is dead
once it has not fired for `dead_tokens` training tokens; the dead latents' top-k_aux
pre-activations reconstruct the main reconstruction's error e = x - x_hat (a fixed target),
    L_aux = ||e - e_hat||^2 / ||e||^2,   e_hat = ReLU(TopK_k_aux(z restricted to dead)) W_dec,
which gives dead latents a gradient towards what the live ones miss (Gao et al.: alpha =
1/32, k_aux a power of two near d_in / 2, dead after 10M tokens; docs/sae-training.md).
"""

from __future__ import annotations

import torch

from factlens.sae.base import SparseAutoencoder


def top_k_code(pre: torch.Tensor, k: int) -> torch.Tensor:
    """ReLU of the k largest pre-activations of each row, zero elsewhere."""
    values, indices = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))


class TopKSAE(SparseAutoencoder):
    architecture = "topk"

    def __init__(self, d_in: int, d_sae: int, seed: int = 0, k: int = 8, aux_k: int | None = None,
                 aux_coefficient: float = 1 / 32, dead_tokens: int = 65536):
        super().__init__(d_in, d_sae, seed)
        if not 1 <= k <= d_sae:
            raise ValueError(f"TopK SAE needs 1 <= k <= d_sae, got k={k}, d_sae={d_sae}")
        self.k = k
        self.aux_k = aux_k if aux_k is not None else 2 ** max(0, (d_in // 2).bit_length() - 1)
        self.aux_coefficient, self.dead_tokens = aux_coefficient, dead_tokens
        # training tokens since each latent last fired (a buffer: saved in checkpoints)
        self.register_buffer("tokens_since_fired", torch.zeros(d_sae, dtype=torch.long))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return top_k_code(self.pre_activations(x), self.k)

    def dead_latents(self) -> torch.Tensor:
        return self.tokens_since_fired >= self.dead_tokens

    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict, torch.Tensor]:
        pre = self.pre_activations(x)
        f = top_k_code(pre, self.k)
        x_hat = self.decode(f)
        reconstruction = self.reconstruction_error(x, x_hat)
        with torch.no_grad():
            self.tokens_since_fired += len(x)
            self.tokens_since_fired[(f > 0).any(0)] = 0
        dead = self.dead_latents()
        auxiliary = torch.zeros((), device=x.device)
        if self.aux_coefficient and dead.any():
            residual = (x - x_hat).detach()
            f_dead = top_k_code(pre.masked_fill(~dead, float("-inf")), min(self.aux_k, int(dead.sum())))
            auxiliary = (residual - f_dead @ self.W_dec).pow(2).sum(-1).mean() \
                / residual.pow(2).sum(-1).mean().clamp_min(1e-12)
        return reconstruction + self.aux_coefficient * auxiliary, {
            "reconstruction": reconstruction, "auxiliary": auxiliary,
            "dead_fraction": dead.float().mean()}, f

    def extra_config(self) -> dict:
        return {"k": self.k}
