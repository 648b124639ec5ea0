"""The patch-and-measure primitive under every direction check (docs/references.md §4).

Run the Fact prompts with the activation at one site and position replaced, and
measure what the replacement did to the answer: the fractional logit-difference
decrease (FLDD) and the interchange accuracy over (base, source) pairs of two sports.
The whole-component patch, DAS, the baseline directions and the rank-1 edit all go
through `run_with_replacement` and `patching_outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from factlens.facts.prompts import forward_logits
from factlens.statistics import bootstrap_mean, bootstrap_ratio
from factlens.illusion.subspace import patch_along

# Positions of a Fact prompt that the analyses intervene at, and the prompt tensor
# (fact_prompts.safetensors) that holds each row's index of it.
PROMPT_POSITIONS = {"final name token": "final_name_index", "final token": "final_index"}


@dataclass
class PromptSet:
    """Prompts with the position to intervene at (e.g. the final name token) and labels."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position: torch.Tensor
    label: torch.Tensor  # index into the answer ids

    def rows(self, index) -> "PromptSet":
        return PromptSet(self.input_ids[index], self.attention_mask[index], self.position[index],
                         self.label[index])


def run_with_replacement(model, prompts: PromptSet, hook: str,
                         replace: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                         capture: dict | None = None, extra_hooks=()) -> torch.Tensor:
    """Final-token logits; at `hook` and each row's `position`, the activation w is
    replaced by `replace(w, rows)` (and stored in `capture['activation']` if given).
    `extra_hooks` ((name, function) pairs) run as well, e.g. a weight edit's effect."""
    device = next(model.parameters()).device
    rows = torch.arange(len(prompts.input_ids), device=device)
    positions = prompts.position.to(device)

    def hook_fn(activation, hook=None):
        here = activation[rows, positions]
        if capture is not None:
            capture["activation"] = here.detach()
        if replace is None:
            return activation
        return activation.index_put((rows, positions), replace(here, rows).to(activation.dtype))

    logits = forward_logits(model, prompts.input_ids, prompts.attention_mask,
                            [(hook, hook_fn), *extra_hooks])
    return logits[:, -1].float()


@torch.no_grad()
def site_activations(model, prompts: PromptSet, hook: str, batch_size: int = 64) -> torch.Tensor:
    """The activation at `hook` and each prompt's position, [rows, d]."""
    parts = []
    for start in range(0, len(prompts.input_ids), batch_size):
        captured: dict = {}
        run_with_replacement(model, prompts.rows(slice(start, start + batch_size)), hook,
                             capture=captured)
        parts.append(captured["activation"].float().cpu())
    return torch.cat(parts)


def make_pairs(labels: torch.Tensor, seed: int, max_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(base, source) row indices with different labels, shuffled and seeded."""
    generator = np.random.default_rng(seed)
    rows = np.arange(len(labels))
    base, source = [], []
    for row in generator.permutation(rows):
        others = rows[labels.numpy() != labels[row].item()]
        if len(others):
            base.append(int(row))
            source.append(int(generator.choice(others)))
        if len(base) == max_pairs:
            break
    return torch.tensor(base), torch.tensor(source)


def replace_whole(w: torch.Tensor, rows: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The full-component patch: the source's whole activation."""
    return u


def along(direction: torch.Tensor):
    """Replace only the component along `direction` by the source's."""
    return lambda w, rows, u: patch_along(w, u, direction.to(w.device, w.dtype))


@torch.no_grad()
def pair_logit_differences(model, prompts: PromptSet, hook: str, source_activations: torch.Tensor,
                           base: torch.Tensor, source: torch.Tensor, answer_ids: torch.Tensor,
                           replacement=None, edit_hooks=None, batch_size: int = 64) -> dict:
    """Per pair: logit(base answer) - logit(source answer), clean and intervened.

    `replacement(w, rows, u)` patches the site given the source rows' activations u;
    `edit_hooks(b, s)` returns extra hooks for the rows (a weight edit) instead.
    """
    clean, intervened = [], []
    for start in range(0, len(base), batch_size):
        b, s = base[start:start + batch_size], source[start:start + batch_size]
        rows_prompts = prompts.rows(b)
        good, bad = answer_ids[prompts.label[b]], answer_ids[prompts.label[s]]
        u = source_activations[s]
        index = torch.arange(len(b))
        before = run_with_replacement(model, rows_prompts, hook).cpu()
        if edit_hooks is not None:
            after = run_with_replacement(model, rows_prompts, hook, extra_hooks=edit_hooks(b, s)).cpu()
        else:
            after = run_with_replacement(
                model, rows_prompts, hook,
                lambda w, rows, u=u: replacement(w, rows, u[rows.cpu()].to(w.device))).cpu()
        clean.append(before[index, good] - before[index, bad])
        intervened.append(after[index, good] - after[index, bad])
    return {"clean": torch.cat(clean), "intervened": torch.cat(intervened)}


def outcome_from_differences(differences: dict) -> dict:
    """FLDD = 1 - mean LD_intervened / mean LD_clean (100%: the difference is gone; above
    100%: it flipped) and interchange accuracy, as in Makelov et al.: of the pair's two
    sports, the intervened model prefers the source's (LD < 0); each with a bootstrap 95%
    interval over pairs."""
    clean, intervened = differences["clean"], differences["intervened"]
    kept_low, kept_high = bootstrap_ratio(intervened.numpy(), clean.numpy())  # over pairs
    swapped = (intervened < 0).float()
    swapped_low, swapped_high = bootstrap_mean(swapped.numpy())
    return {"fldd": float(1 - intervened.mean() / clean.mean()), "fldd_low": 1 - kept_high,
            "fldd_high": 1 - kept_low, "interchange_accuracy": float(swapped.mean()),
            "interchange_low": swapped_low, "interchange_high": swapped_high, "pairs": len(clean)}


def patching_outcome(model, prompts: PromptSet, hook: str, source_activations: torch.Tensor,
                     base: torch.Tensor, source: torch.Tensor, answer_ids: torch.Tensor,
                     direction: torch.Tensor | None, batch_size: int = 64) -> dict:
    """FLDD and interchange accuracy of patching along `direction` (None: the whole
    activation, i.e. the full component) from source into base rows."""
    replacement = replace_whole if direction is None else along(direction)
    return outcome_from_differences(pair_logit_differences(
        model, prompts, hook, source_activations, base, source, answer_ids, replacement,
        batch_size=batch_size))
