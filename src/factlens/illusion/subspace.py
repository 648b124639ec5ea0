"""Subspace patching and the nullspace/rowspace decomposition (docs/references.md §4).

Patching a base activation w along a direction v with a source activation u:

    w' = w + ((<u, v> - <w, v>) / ||v||^2) v

At an MLP's hidden activations, split v = v_null + v_row with v_null in the kernel of
the MLP's output matrix W_out (it cannot change anything downstream: *disconnected*)
and v_row = Q Q^T v in its orthogonal complement, where Q, _ = qr(W_out) and W_out is
[d_mlp, d_model] (TransformerLens convention: hidden @ W_out).
"""

from __future__ import annotations

import torch


def patch_along(base: torch.Tensor, source: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Replace the component of `base` along `direction` by that of `source` (rows)."""
    coefficient = ((source - base) @ direction) / direction.dot(direction)
    return base + coefficient[..., None] * direction


def rowspace_basis(reader: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis [d, rank] of the subspace that `reader` ([d, k], acting as
    x @ reader) can see; the rest of R^d is its kernel."""
    q, r = torch.linalg.qr(reader.double())
    keep = r.diagonal().abs() > 1e-8 * r.diagonal().abs().max()
    return q[:, keep].float()


def split_direction(direction: torch.Tensor, reader: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(v_row, v_null): the parts of `direction` inside and orthogonal to what `reader` reads."""
    q = rowspace_basis(reader)
    v_row = q @ (q.T @ direction)
    return v_row, direction - v_row


def class_separation(projections: torch.Tensor, labels: torch.Tensor) -> float:
    """|difference of the two class means| / pooled standard deviation (Cohen's d) of
    1-D projections; ~0 means the direction does not vary with the variable (dormant)."""
    a, b = projections[labels == labels.unique()[0]], projections[labels == labels.unique()[-1]]
    pooled = ((a.var(unbiased=True) + b.var(unbiased=True)) / 2).sqrt()
    return float((a.mean() - b.mean()).abs() / pooled.clamp_min(1e-12))


def outside_natural_range(natural: torch.Tensor, patched: torch.Tensor) -> float:
    """Fraction of patched projections outside the [min, max] of the natural ones."""
    return float(((patched < natural.min()) | (patched > natural.max())).float().mean())


def downstream_reader(model, hook: str) -> torch.Tensor:
    """The weights that read the activation at `hook`, as one [d, k] matrix.

    MLP hidden activations (`blocks.L.mlp.hook_post`) are read only by that MLP's
    W_out. The residual stream after block L (`blocks.L.hook_resid_post`) is read by the
    queries, keys and values of every later attention layer, every later MLP's W_in and
    the unembedding (layer norms in between only rescale, so they do not change which
    subspace is read).
    """
    parts = hook.split(".")
    layer = int(parts[1])
    if hook.endswith("mlp.hook_post"):
        return model.W_out[layer].detach().float()
    if hook.endswith("hook_resid_post"):
        d = model.cfg.d_model
        later = range(layer + 1, model.cfg.n_layers)
        heads = [w[l].detach().permute(1, 0, 2).reshape(d, -1)
                 for w in (model.W_Q, model.W_K, model.W_V) for l in later]
        mlps = [model.W_in[l].detach() for l in later]
        return torch.cat([*heads, *mlps, model.W_U.detach()], dim=1).float()
    raise ValueError(f"no downstream reader defined for hook {hook!r}; use "
                     "blocks.L.mlp.hook_post or blocks.L.hook_resid_post")
