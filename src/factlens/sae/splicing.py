"""Running the model with an activation replaced: SAE reconstructions, zero ablation.

Used for the SAE's loss recovered (docs/references.md §2) and, later, for patching. Positions
that the activation cache leaves out (BOS and padding) are left untouched, so the
SAE is only ever asked to reconstruct the kind of activation it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from factlens.loading import check_hook_name

Replacement = Callable[[torch.Tensor], torch.Tensor]


def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor,
                    target_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the summed cross-entropy of predicting each kept next token, and the count."""
    log_probs = logits[:, :-1].float().log_softmax(-1)
    targets = input_ids[:, 1:]
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mask = target_mask[:, 1:].to(nll.dtype)
    return (nll * mask).sum(-1), mask.sum(-1)


@torch.no_grad()
def sequence_cross_entropy(model, input_ids: torch.Tensor, keep: torch.Tensor, hook: str,
                           replacements: dict[str, Replacement | None],
                           batch_rows: int = 32) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Summed next-token CE per sequence (row) with the activation at `hook` replaced, per
    named replacement, and the number of predicted tokens per sequence.

    `replacements` maps a name to a function of the activations at the kept positions
    (shape [tokens, d]) returning their replacement; None runs the model clean.
    All variants see the same batches, so their differences are paired.
    """
    check_hook_name(model, hook)
    device = next(model.parameters()).device
    sums = {name: [] for name in replacements}
    counts = []
    for start in range(0, len(input_ids), batch_rows):
        ids = input_ids[start:start + batch_rows].to(device)
        mask = keep[start:start + batch_rows].to(device)
        for name, replace in replacements.items():
            if replace is None:
                logits = model(ids)
            else:
                logits = model.run_with_hooks(ids, fwd_hooks=[(hook, _splice(replace, mask))])
            loss, n = next_token_loss(logits, ids, mask)
            sums[name].append(loss.double().cpu())
        counts.append(n.double().cpu())
    return {name: torch.cat(rows) for name, rows in sums.items()}, torch.cat(counts)


def spliced_cross_entropy(model, input_ids: torch.Tensor, keep: torch.Tensor, hook: str,
                          replacements: dict[str, Replacement | None],
                          batch_rows: int = 32) -> dict[str, float]:
    """Mean next-token CE over all kept targets, per named replacement (see
    `sequence_cross_entropy`)."""
    sums, counts = sequence_cross_entropy(model, input_ids, keep, hook, replacements, batch_rows)
    return {name: float(total.sum() / counts.sum()) for name, total in sums.items()}


def _splice(replace: Replacement, mask: torch.Tensor):
    def hook_fn(activation: torch.Tensor, hook=None) -> torch.Tensor:
        patched = activation.clone()
        patched[mask] = replace(activation[mask].float()).to(activation.dtype)
        return patched
    return hook_fn


def zero_ablation(activation: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(activation)
