"""Activation patching on the Fact prompts (docs/references.md §1, §5).

Clean/corrupt pairs: each known athlete (clean) is paired with a known athlete of
another sport whose prompt has the same layout (as many name tokens, as many tokens
in all), so the two left-padded prompts line up position by position. We run the corrupt prompt, patch in the clean
activation at one hook and one group of positions, and measure the fraction of the
clean logit difference restored:

    LD = logit(clean sport) - logit(corrupt sport)  at the final token
    restored = (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from factlens.blocks import patch_hooks
from factlens.facts.prompts import forward_logits
from factlens.organism.world import SUFFIX


@dataclass
class Pairs:
    """Paired clean and corrupt prompts (rows of the same prompt tensors)."""

    clean: torch.Tensor  # row indices into the prompt tensors
    corrupt: torch.Tensor
    clean_label: torch.Tensor  # index into the answer ids
    corrupt_label: torch.Tensor


def prompt_layout(attention_mask: torch.Tensor, first_name: torch.Tensor,
                  final_name: torch.Tensor) -> torch.Tensor:
    """[rows, 2]: tokens in the prompt and in the name; equal layouts align position by
    position (a tokenizer may split the space before a name off, or merge it in)."""
    return torch.stack([attention_mask.sum(-1), final_name - first_name + 1], dim=1)


def pair_prompts(labels: torch.Tensor, layout: torch.Tensor, kept: torch.Tensor,
                 max_pairs: int, seed: int, shared: torch.Tensor | None = None) -> Pairs:
    """Pair each kept prompt with a kept prompt of another sport and the same layout.

    With `shared` (one id per prompt, e.g. the last name), only prompts with the same
    id are paired: the pair then differs in the rest of the name alone.
    """
    generator = np.random.default_rng(seed)
    candidates = kept.nonzero().flatten().numpy()
    generator.shuffle(candidates)
    layout = layout.reshape(len(labels), -1)
    if shared is not None:
        layout = torch.cat([layout, shared.reshape(len(labels), 1)], dim=1)
    clean, corrupt = [], []
    for row in candidates:
        same_layout = (layout[candidates] == layout[row]).all(-1).numpy()
        others = candidates[(labels[candidates] != labels[row]).numpy() & same_layout]
        if len(others):
            clean.append(int(row))
            corrupt.append(int(generator.choice(others)))
        if len(clean) == max_pairs:
            break
    clean_t, corrupt_t = torch.tensor(clean, dtype=torch.long), torch.tensor(corrupt, dtype=torch.long)
    return Pairs(clean_t, corrupt_t, labels[clean_t], labels[corrupt_t])


def position_groups(first_name: torch.Tensor, final_name: torch.Tensor,
                    length: int) -> dict[str, torch.Tensor]:
    """Boolean [rows, length] masks for the prompt's roles: name tokens and the suffix."""
    positions = torch.arange(length).expand(len(first_name), length)
    first, final = first_name[:, None], final_name[:, None]
    groups = {
        "first name token": positions == first,
        "middle name tokens": (positions > first) & (positions < final),
        "final name token": positions == final,
    }
    for offset, word in enumerate(SUFFIX, start=1):
        groups[word.strip()] = positions == final + offset
    groups["all positions"] = positions >= 0
    return groups


def logit_difference(logits: torch.Tensor, answer_ids: torch.Tensor, good: torch.Tensor,
                     bad: torch.Tensor) -> torch.Tensor:
    """logit(good answer) - logit(bad answer) at the final position, per row."""
    final = logits[:, -1].float()
    return final.gather(1, answer_ids[good][:, None])[:, 0] - final.gather(1, answer_ids[bad][:, None])[:, 0]


def _patch_from(source: torch.Tensor, mask: torch.Tensor):
    def hook_fn(activation, hook=None):
        return torch.where(mask[..., None].to(activation.device), source.to(activation.dtype), activation)
    return hook_fn


@torch.no_grad()
def patching_effects(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     first_name: torch.Tensor, final_name: torch.Tensor, pairs: Pairs,
                     answer_ids: torch.Tensor, hooks: list[str],
                     groups: list[str] | None = None, batch_size: int = 64) -> pd.DataFrame:
    """Fraction of the logit difference restored, per hook, position group and pair.

    A hook that only some readers see (`hook_resid_mid`) is patched through the hooks
    that replace the residual stream there (`factlens.blocks.patch_hooks`)."""
    targets = {hook: patch_hooks(hook) for hook in hooks}
    captured_hooks = list(dict.fromkeys(name for names in targets.values() for name in names))
    rows = []
    for start in range(0, len(pairs.clean), batch_size):
        clean = pairs.clean[start:start + batch_size]
        corrupt = pairs.corrupt[start:start + batch_size]
        good = pairs.clean_label[start:start + batch_size]
        bad = pairs.corrupt_label[start:start + batch_size]
        clean_ids, clean_mask = input_ids[clean], attention_mask[clean]
        corrupt_ids, corrupt_mask = input_ids[corrupt], attention_mask[corrupt]
        if not torch.equal(clean_mask, corrupt_mask):
            raise ValueError("clean and corrupt prompts must have the same layout (padding)")
        captured = {}

        def capture(name):
            def store(activation, hook=None):
                captured[name] = activation.detach().clone()
            return store

        clean_ld = logit_difference(forward_logits(model, clean_ids, clean_mask, [(h, capture(h)) for h in captured_hooks]),
                                    answer_ids, good, bad).cpu()
        corrupt_ld = logit_difference(forward_logits(model, corrupt_ids, corrupt_mask), answer_ids, good, bad).cpu()
        masks = position_groups(first_name[clean], final_name[clean], input_ids.shape[1])
        for group, mask in masks.items():
            if groups is not None and group not in groups:
                continue
            if not mask.any():
                continue
            for hook in hooks:
                patched = forward_logits(model, corrupt_ids, corrupt_mask,
                                         [(name, _patch_from(captured[name], mask))
                                          for name in targets[hook]])
                patched_ld = logit_difference(patched, answer_ids, good, bad).cpu()
                restored = (patched_ld - corrupt_ld) / (clean_ld - corrupt_ld)
                has = mask.any(1)
                for pair, value in enumerate(restored.tolist()):
                    if has[pair]:
                        rows.append({"hook": hook, "position": group, "pair": start + pair,
                                     "restored": value, "clean_ld": float(clean_ld[pair]),
                                     "corrupt_ld": float(corrupt_ld[pair])})
    return pd.DataFrame(rows)


def summarise_effects(effects: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error of the fraction restored, per hook and position group."""
    grouped = effects.groupby(["hook", "position"], sort=False)["restored"]
    summary = grouped.agg(["mean", "sem", "count"]).reset_index()
    return summary.rename(columns={"mean": "restored_mean", "sem": "restored_sem", "count": "pairs"})
