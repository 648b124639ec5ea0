"""Distributed alignment search (DAS) for a 1-D direction, and the interventions that
patch along a direction at one position of the Fact prompts (PAPERS.md §4).

The direction is the first column of a matrix kept orthogonal by
`torch.nn.utils.parametrizations.orthogonal` (for one column: a unit vector), trained
so that patching along it from a source athlete into a base athlete of another sport
makes the model answer the source's sport (cross-entropy on the source's answer);
Adam, linear learning-rate decay. The model's weights stay frozen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from factlens.prompts import forward_logits
from factlens.subspace import patch_along


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
                         capture: dict | None = None) -> torch.Tensor:
    """Final-token logits; at `hook` and each row's `position`, the activation w is
    replaced by `replace(w, rows)` (and stored in `capture['activation']` if given)."""
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

    logits = forward_logits(model, prompts.input_ids, prompts.attention_mask, [(hook, hook_fn)])
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


class LearnedDirection(nn.Module):
    """A unit vector: the single column of an orthogonally parametrised [d, 1] matrix."""

    def __init__(self, d: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.basis = orthogonal(nn.Linear(1, d, bias=False))

    @property
    def vector(self) -> torch.Tensor:
        return self.basis.weight[:, 0]


@dataclass(frozen=True)
class DASSettings:
    """Config section `directions.das` (defaults in the config schema)."""

    seed: int
    epochs: int  # at most; training stops early on the validation pairs
    batch_size: int
    learning_rate: float
    restarts: int
    validation_fraction: float
    patience: int


def patched_answer_loss(model, prompts: PromptSet, hook: str, source_activations: torch.Tensor,
                        base: torch.Tensor, source: torch.Tensor, answer_ids: torch.Tensor,
                        vector: torch.Tensor, batch_size: int = 64) -> float:
    """Mean cross-entropy of the source's answer after patching along `vector` (the DAS
    objective, without gradients: for validation)."""
    device = next(model.parameters()).device
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(base), batch_size):
            b, s = base[start:start + batch_size], source[start:start + batch_size]
            u = source_activations[s].to(device)
            logits = run_with_replacement(model, prompts.rows(b), hook,
                                          lambda w, rows, u=u: patch_along(w, u[rows], vector.to(w.device, w.dtype)))
            total += float(nn.functional.cross_entropy(logits, answer_ids[prompts.label[s]].to(device),
                                                       reduction="sum"))
    return total / len(base)


def train_das(model, prompts: PromptSet, hook: str, source_activations: torch.Tensor,
              base: torch.Tensor, source: torch.Tensor, answer_ids: torch.Tensor,
              settings: DASSettings, seed: int | None = None,
              validation: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Learn v so that patching along it from `source` into `base` rows gives the
    source's answer. With `validation` (base, source) pairs, the direction with the
    lowest validation loss is kept and training stops after `patience` epochs without
    improvement. Returns the unit direction and one record per epoch (train and
    validation loss)."""
    seed = settings.seed if seed is None else seed
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    direction = LearnedDirection(source_activations.shape[1], seed)
    optimizer = torch.optim.Adam(direction.parameters(), lr=settings.learning_rate)
    steps = settings.epochs * -(-len(base) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / max(1, steps))
    generator = torch.Generator().manual_seed(seed)
    targets = answer_ids[prompts.label[source]]
    device = next(model.parameters()).device
    history, best, best_loss, best_epoch = [], None, float("inf"), 0
    for epoch in range(settings.epochs):
        order = torch.randperm(len(base), generator=generator)
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            chunk = order[start:start + settings.batch_size]
            u = source_activations[source[chunk]].to(device)
            logits = run_with_replacement(
                model, prompts.rows(base[chunk]), hook,
                lambda w, rows, u=u: patch_along(w, u[rows], direction.vector.to(w.dtype)))
            loss = nn.functional.cross_entropy(logits, targets[chunk].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chunk)
        vector = direction.vector.detach().cpu().clone()
        record = {"epoch": epoch + 1, "train_loss": total / len(base), "validation_loss": float("nan")}
        if validation is not None:
            record["validation_loss"] = patched_answer_loss(model, prompts, hook, source_activations,
                                                            *validation, answer_ids, vector)
        history.append(record)
        score = record["validation_loss"] if validation is not None else -epoch  # else: the last
        if score < best_loss:
            best, best_loss, best_epoch = vector, score, epoch
        elif epoch - best_epoch >= settings.patience:
            break
    return best, history


@torch.no_grad()
def patching_outcome(model, prompts: PromptSet, hook: str, source_activations: torch.Tensor,
                     base: torch.Tensor, source: torch.Tensor, answer_ids: torch.Tensor,
                     direction: torch.Tensor | None, batch_size: int = 64) -> dict:
    """Fractional logit-difference decrease and interchange accuracy of a patch.

    direction None patches the whole activation (the full component). LD is
    logit(base answer) - logit(source answer); FLDD = 1 - mean LD_patched / mean LD_base
    (100%: the difference is gone; above 100%: it flipped). Interchange accuracy, as
    in Makelov et al.: of the two sports of the pair, the patched model prefers the
    source's.
    """
    ld_base, ld_patched, switched = [], [], []
    for start in range(0, len(base), batch_size):
        b, s = base[start:start + batch_size], source[start:start + batch_size]
        rows_prompts = prompts.rows(b)
        u = source_activations[s]
        good, bad = answer_ids[prompts.label[b]], answer_ids[prompts.label[s]]

        def replace(w, rows, u=u):
            if direction is None:
                return u[rows.cpu()].to(w.device)
            return patch_along(w, u[rows.cpu()].to(w.device), direction.to(w.device))

        clean = run_with_replacement(model, rows_prompts, hook).cpu()
        patched = run_with_replacement(model, rows_prompts, hook, replace).cpu()
        index = torch.arange(len(b))
        ld_base.append(clean[index, good] - clean[index, bad])
        ld_patched.append(patched[index, good] - patched[index, bad])
        switched.append(patched[index, bad] > patched[index, good])
    ld_base, ld_patched = torch.cat(ld_base), torch.cat(ld_patched)
    return {"fldd": float(1 - ld_patched.mean() / ld_base.mean()),
            "interchange_accuracy": float(torch.cat(switched).float().mean()),
            "pairs": len(base)}
