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
import torch.nn.functional as F

from factlens.sae.base import SparseAutoencoder

# A top-k code decodes as a sum of k decoder rows per token (an embedding-bag sum, whose
# backward touches only those rows) while k <= latents / SPARSE_DECODE_RATIO; above that a
# dense matmul of the scattered code is faster (`bench/sae_step.py --kernels`: at 2048
# tokens x 512 latents x 128 dims, forward and backward take 1.6-2.0 / 4.9-5.8 / 8.0-8.5 ms
# as a row sum against 12-18 ms dense at k = 1 / 8 / 16; about even at k = 32, 2x slower at 64).
SPARSE_DECODE_RATIO = 16


def top_k(pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU of the k largest pre-activations of each row, and their latent indices."""
    values, indices = pre.topk(k, dim=-1, sorted=False)
    return torch.relu(values), indices


def dense_code(values: torch.Tensor, indices: torch.Tensor, d_sae: int) -> torch.Tensor:
    """The [rows x d_sae] code with `values` at `indices`, zero elsewhere."""
    code = torch.zeros(*values.shape[:-1], d_sae, dtype=values.dtype, device=values.device)
    return code.scatter(-1, indices, values)


def decode_top_k(values: torch.Tensor, indices: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """sum_j values[:, j] rows[indices[:, j]]: decoder rows weighted by a top-k code (no bias)."""
    if values.shape[-1] * SPARSE_DECODE_RATIO <= rows.shape[0]:
        return F.embedding_bag(indices, rows, per_sample_weights=values.to(rows.dtype), mode="sum")
    return dense_code(values, indices, rows.shape[0]) @ rows


def top_k_code(pre: torch.Tensor, k: int) -> torch.Tensor:
    """ReLU of the k largest pre-activations of each row, zero elsewhere."""
    return dense_code(*top_k(pre, k), pre.shape[-1])


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
        values, indices = top_k(pre, self.k)
        x_hat = decode_top_k(values, indices, self.W_dec) + self.b_dec
        reconstruction = self.reconstruction_error(x, x_hat)
        with torch.no_grad():
            self.tokens_since_fired += len(x)
            self.tokens_since_fired[indices[values > 0]] = 0
        dead = self.dead_latents()
        auxiliary = torch.zeros((), device=x.device)
        dead_columns = dead.nonzero().flatten()
        if self.aux_coefficient and len(dead_columns):
            # the dead latents' top-k_aux pre-activations decode the error (a fixed target)
            residual = (x - x_hat).detach()
            dead_values, positions = top_k(pre.index_select(-1, dead_columns), min(self.aux_k, len(dead_columns)))
            estimate = decode_top_k(dead_values, positions, self.W_dec.index_select(0, dead_columns))
            auxiliary = (residual - estimate).pow(2).sum(-1).mean() / residual.pow(2).sum(-1).mean().clamp_min(1e-12)
        return reconstruction + self.aux_coefficient * auxiliary, {
            "reconstruction": reconstruction, "auxiliary": auxiliary,
            "dead_fraction": dead.float().mean()}, dense_code(values.detach(), indices, self.d_sae)

    def extra_config(self) -> dict:
        return {"k": self.k}
