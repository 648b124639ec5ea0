"""Distributed alignment search (DAS) for a 1-D direction at one site and position of
the Fact prompts (docs/references.md §4).

The direction is the first column of a matrix kept orthogonal by
`torch.nn.utils.parametrizations.orthogonal` (for one column: a unit vector), trained
so that patching along it from a source athlete into a base athlete of another sport
makes the model answer the source's sport (cross-entropy on the source's answer);
Adam, linear learning-rate decay. The model's weights stay frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from factlens.illusion.intervention import PromptSet, run_with_replacement
from factlens.illusion.subspace import patch_along


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

    CONFIG_SECTION: ClassVar[tuple[str, ...]] = ("directions", "das")

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


def train_das_restarts(model, prompts: PromptSet, hook: str, source_activations: torch.Tensor,
                       base: torch.Tensor, source: torch.Tensor, answer_ids: torch.Tensor,
                       settings: DASSettings) -> list[dict]:
    """DAS from `settings.restarts` random initialisations (seeds seed, seed+1, ...), each
    early-stopped on the same validation pairs (the first `validation_fraction` of the
    training pairs). One record per restart: its direction, best validation loss and
    history, best restart first."""
    n_validation = max(1, int(round(settings.validation_fraction * len(base))))
    validation = (base[:n_validation], source[:n_validation])
    restarts = []
    for restart in range(settings.restarts):
        vector, history = train_das(model, prompts, hook, source_activations, base[n_validation:],
                                    source[n_validation:], answer_ids, settings,
                                    seed=settings.seed + restart, validation=validation)
        restarts.append({"restart": restart, "vector": vector, "history": history,
                         "validation_loss": min(record["validation_loss"] for record in history)})
    return sorted(restarts, key=lambda record: (record["validation_loss"], record["restart"]))
