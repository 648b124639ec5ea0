"""The model organism: a small GPT-NeoX trained on the world's corpus.

A nanoGPT-sized loop: pack the corpus into fixed-length rows, AdamW, log the loss;
everything seeded. Training ends on a stated criterion rather than at a step count
chosen on one seed (docs/organism.md): the learning rate stays at its peak until the
Fact-prompt accuracy (a training-distribution prompt, never a held-out template)
reaches `plateau_accuracy`, i.e. the model has left its plateau at chance; then it
decays over `decay_steps` and training stops. `max_steps` caps the run: a seed still
on the plateau at `max_steps - decay_steps` starts its decay there.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

log = logging.getLogger("factlens.model")


@dataclass(frozen=True)
class OrganismSettings:
    """Size and training schedule of the organism (config section `model.organism`; defaults in the config schema)."""

    CONFIG_SECTION: ClassVar[tuple[str, ...]] = ("model", "organism")

    seed: int
    d_model: int
    n_layers: int
    n_heads: int
    d_mlp: int
    rotary_pct: float
    context_length: int
    batch_size: int
    max_steps: int
    learning_rate: float
    warmup_steps: int
    weight_decay: float
    eval_every: int
    parallel_residual: bool
    plateau_accuracy: float
    decay_steps: int


def organism_config(settings: OrganismSettings, tokenizer) -> GPTNeoXConfig:
    """GPT-NeoX (rotary, untied embeddings, no dropout) with Pythia's parallel attention +
    MLP blocks or GPT-2's sequential ones (`parallel_residual`)."""
    return GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.d_model,
        num_hidden_layers=settings.n_layers,
        num_attention_heads=settings.n_heads,
        intermediate_size=settings.d_mlp,
        rotary_pct=settings.rotary_pct,
        max_position_embeddings=max(settings.context_length, 256),
        use_parallel_residual=settings.parallel_residual,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def pack_documents(tokenizer, documents: list[str], context_length: int) -> torch.Tensor:
    """Concatenate BOS + document token streams and cut them into rows of `context_length`."""
    stream: list[int] = []
    for ids in tokenizer(documents, add_special_tokens=False)["input_ids"]:
        stream.append(tokenizer.bos_token_id)
        stream.extend(ids)
    n_rows = len(stream) // context_length
    return torch.tensor(stream[: n_rows * context_length]).view(n_rows, context_length)


def stream_batches(tokenizer, documents_for_epoch: Callable[[int], list[str]],
                   context_length: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Batches of packed rows from a stream of epochs, each epoch's documents drawn
    afresh by `documents_for_epoch(epoch)` (already in random order)."""
    pending = torch.empty((0, context_length), dtype=torch.long)
    for epoch in itertools.count():
        rows = pack_documents(tokenizer, documents_for_epoch(epoch), context_length)
        pending = torch.cat([pending, rows])
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]


def learning_rate_at(step: int, settings: OrganismSettings, decay_start: int | None) -> float:
    """Linear warm-up, the peak until `decay_start` (None: not yet), then cosine decay
    to 10% of the peak over `decay_steps`."""
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    if decay_start is None or step < decay_start:
        return settings.learning_rate
    progress = min(1.0, (step + 1 - decay_start) / max(1, settings.decay_steps))
    return settings.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_organism(settings: OrganismSettings, tokenizer,
                   documents_for_epoch: Callable[[int], list[str]],
                   evaluate=None) -> tuple[GPTNeoXForCausalLM, pd.DataFrame]:
    """Train the organism on a stream of freshly drawn epochs until the stopping
    criterion (module docstring); returns the model and its loss curve.

    `evaluate(model) -> dict` is called every `eval_every` steps and at the end; its
    numbers join the loss curve, and its `fact_accuracy` decides when the plateau is
    left (without `evaluate` the decay starts at the cap). The curve's `phase` column
    says which part of the schedule each step belongs to.
    """
    torch.manual_seed(settings.seed)
    model = GPTNeoXForCausalLM(organism_config(settings, tokenizer))
    batches = stream_batches(tokenizer, documents_for_epoch, settings.context_length,
                             settings.batch_size)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.learning_rate, betas=(0.9, 0.95))
    curve = []
    decay_start = None
    model.train()
    progress = tqdm(total=settings.max_steps, desc="train organism", mininterval=5)
    for step in range(settings.max_steps):
        if decay_start is None and step >= settings.max_steps - settings.decay_steps:
            decay_start = step  # the cap: still on the plateau
        batch = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, settings, decay_start)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        progress.update()
        record = {"step": step + 1, "loss": loss.item(), "lr": group["lr"],
                  "tokens": (step + 1) * batch.numel(),
                  "phase": "plateau" if decay_start is None else "decay"}
        finished = decay_start is not None and step + 1 >= decay_start + settings.decay_steps
        if evaluate is not None and ((step + 1) % settings.eval_every == 0 or finished
                                     or step + 1 == settings.max_steps):
            model.eval()
            record.update(evaluate(model))
            model.train()
            log.info("step %d: %s (%s)", step + 1, {k: v for k, v in record.items() if k not in
                                                     ("step", "tokens", "phase")}, record["phase"])
            if decay_start is None and record["fact_accuracy"] >= settings.plateau_accuracy:
                decay_start = step + 1
        curve.append(record)
        if finished:
            break
    progress.close()
    model.eval()
    return model, pd.DataFrame(curve)


def stopping_summary(curve: pd.DataFrame, settings: OrganismSettings) -> dict:
    """How training ended: steps taken, the step the decay started, and why it started."""
    decayed = curve[curve["phase"] == "decay"]
    start = int(decayed["step"].iloc[0]) - 1 if len(decayed) else None
    left = start is not None and start < settings.max_steps - settings.decay_steps
    return {"steps": int(curve["step"].iloc[-1]), "decay_start": start,
            "stopped_because": (f"Fact accuracy reached {settings.plateau_accuracy:.0%} at step "
                                f"{start}, then {settings.decay_steps} steps of decay") if left else
                               f"the cap of {settings.max_steps} steps (plateau not left in time)"}


def smoothed(values: pd.Series, window: int = 20) -> np.ndarray:
    """Running mean for plotting a noisy loss curve."""
    return values.rolling(window, min_periods=1).mean().to_numpy()
