"""A 1-D patch at an MLP's hidden activations as a rank-1 edit of W_out
(Makelov et al. 2024, fact-editing section; docs/references.md §4).

Patching the hidden activation w (at the final name token of a base prompt) along a
unit direction v with a source activation u changes the MLP's output there by

    (<u, v> - <w, v>) v W_out.

The minimum-norm rank-1 change of W_out that maps the key w to the same output (ROME's
edit with an identity key covariance) is

    ΔW = w ⊗ ((<u, v> - <w, v>) v W_out) / ||w||²,

so the edited model computes exactly the patched output at that token, and at every
other token h of the prompt adds (<h, w> / ||w||²) of it. The edit is applied as its
effect on the MLP output (h ΔW added at `hook_mlp_out` for every position), which is
the same computation as editing the weight and works for any architecture.
"""

from __future__ import annotations

import torch


def rank_one_edit(bases: torch.Tensor, sources: torch.Tensor, direction: torch.Tensor,
                  w_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the rank-1 edit ΔW = key ⊗ value of W_out ([d_mlp, d_model]) equivalent to
    patching the hidden activation w (`bases`) along `direction` with u (`sources`):
    key = w / ||w||², value = (<u - w, v> / ||v||²) v W_out."""
    coefficient = ((sources - bases) @ direction) / direction.dot(direction)
    values = coefficient[:, None] * (direction @ w_out)[None, :]
    return bases / bases.pow(2).sum(1, keepdim=True).clamp_min(1e-12), values


def edit_hooks(layer: int, keys: torch.Tensor, values: torch.Tensor) -> list:
    """Hooks that run the batch with row b's W_out edited by keys[b] ⊗ values[b]."""
    hidden: dict = {}

    def remember_hidden(activation, hook=None):
        hidden["h"] = activation
        return activation

    def add_edit(output, hook=None):
        strength = torch.einsum("btm,bm->bt", hidden["h"].float(), keys.to(output.device))
        return output + (strength[..., None] * values.to(output.device)[:, None, :]).to(output.dtype)

    return [(f"blocks.{layer}.mlp.hook_post", remember_hidden),
            (f"blocks.{layer}.hook_mlp_out", add_edit)]
