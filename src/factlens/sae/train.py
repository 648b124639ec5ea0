"""Training SAEs on cached activations with the Gated SAE paper's recipe
(docs/references.md §2).

Adam with beta1 = 0, beta2 = 0.999; linear LR warm-up, constant, then a linear decay
over the last 20% of steps; inputs scaled to E||x||^2 = 1 (so the reconstruction loss
is already divided by E||x||^2); unit-norm decoder rows by gradient projection and
renormalisation; optional dead-latent resampling with an LR warm-up after each resample.
Long runs survive pre-emption: every `checkpoint_every` steps the whole training state
is saved, and a run that finds a checkpoint continues from it, bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from factlens.sae.base import SparseAutoencoder


@dataclass(frozen=True)
class SAETrainingSettings:
    """Config section `sae.training` (defaults in the config schema)."""

    CONFIG_SECTION: ClassVar[tuple[str, ...]] = ("sae", "training")

    seed: int
    batch_size: int
    steps: int
    warmup_steps: int
    adam_beta1: float
    adam_beta2: float
    resample_every: int
    resample_warmup_steps: int
    log_every: int
    autocast: str = "none"
    checkpoint_every: int = 0  # 0: never
    # the sparsity coefficient rises linearly from 0 over this fraction of the steps (the
    # JumpReLU paper's recipe, set per architecture; 0: the full coefficient from the start)
    sparsity_warmup_fraction: float = 0.0


def save_checkpoint(path: Path, state: dict) -> None:
    """Write the training state atomically (a kill mid-write leaves the previous one)."""
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path | None) -> dict | None:
    """The saved training state, or None when there is none to resume from."""
    if path is None or not path.exists():
        return None
    return torch.load(path, weights_only=False)


def input_scale(sample: torch.Tensor) -> float:
    """The factor s with E||s x||^2 = 1 on a sample of activations."""
    return float(sample.pow(2).sum(-1).mean().rsqrt())


def learning_rate_multiplier(step: int, settings: SAETrainingSettings, last_resample: int | None) -> float:
    """Warm-up (from the start and after each resample), constant, decay over the last 20%."""
    warm = min(1.0, (step + 1) / max(1, settings.warmup_steps))
    if last_resample is not None:
        warm = min(warm, (step - last_resample + 1) / max(1, settings.resample_warmup_steps))
    decay_start = int(0.8 * settings.steps)
    decay = 1.0 if step < decay_start else (settings.steps - step) / (settings.steps - decay_start)
    return warm * decay


@torch.no_grad()
def resample_dead_latents(sae: SparseAutoencoder, optimizer: torch.optim.Optimizer,
                          dead: torch.Tensor, x: torch.Tensor, generator: torch.Generator) -> int:
    """Re-initialise dead latents towards inputs the SAE reconstructs worst.

    Inputs are drawn with probability proportional to their squared error; the decoder
    row becomes the input's direction, the encoder column the same direction scaled to
    0.2 x the mean alive encoder norm, biases zero; Adam's moments for them are reset.
    """
    indices = dead.nonzero().flatten()
    if len(indices) == 0:
        return 0
    error = (x - sae.decode(sae.encode(x))).pow(2).sum(-1)
    picks = torch.multinomial(error.cpu() + 1e-12, len(indices), replacement=True, generator=generator)
    directions = x[picks.to(x.device)] - sae.b_dec
    directions /= directions.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    alive_norm = sae.W_enc[:, ~dead].norm(dim=0).mean() if (~dead).any() else torch.tensor(1.0)
    sae.W_dec[indices] = directions
    sae.W_enc[:, indices] = directions.T * 0.2 * alive_norm
    for name, parameter in sae.named_parameters():
        axis = sae.latent_axis(name)
        if axis is None:
            continue
        if name not in ("W_enc", "W_dec", "threshold"):
            parameter.index_fill_(axis, indices, 0.0)
        for moment in optimizer.state.get(parameter, {}).values():
            if torch.is_tensor(moment) and moment.shape == parameter.shape:
                moment.index_fill_(axis, indices, 0.0)
    return len(indices)


def training_step(sae: SparseAutoencoder, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                  sparsity_coefficient: float, autocast: str = "none") -> tuple[torch.Tensor, dict, torch.Tensor]:
    """One optimiser step on scaled inputs `x`, with the decoder kept on the unit sphere;
    returns the loss, its parts and the batch's latent activations (before the step).

    With `autocast="bfloat16"` the forward pass runs under bf16 autocast (matmuls in bf16,
    parameters, gradients and Adam's state in fp32)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast == "bfloat16"):
        loss, parts, latents = sae.loss(x, sparsity_coefficient)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    sae.remove_parallel_decoder_gradient()
    optimizer.step()
    sae.after_step()
    return loss, parts, latents.detach()


class SAETrainer:
    """One SAE of a sweep: its optimiser, learning-rate schedule, dead-latent bookkeeping
    and training log. `train_saes` steps every trainer of a sweep on the same batch."""

    def __init__(self, sae: SparseAutoencoder, sparsity_coefficient: float, learning_rate: float,
                 settings: SAETrainingSettings):
        self.sae, self.settings = sae, settings
        self.sparsity_coefficient, self.learning_rate = sparsity_coefficient, learning_rate
        self.optimizer = torch.optim.Adam(sae.parameters(), lr=learning_rate,
                                          betas=(settings.adam_beta1, settings.adam_beta2))
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.fired = torch.zeros(sae.d_sae, dtype=torch.bool, device=sae.W_dec.device)
        self.last_resample: int | None = None
        self.log: list[dict] = []

    def step(self, step: int, batch: torch.Tensor) -> None:
        """One training step on a batch of raw activations."""
        settings, sae = self.settings, self.sae
        x = batch * sae.input_scale
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate * learning_rate_multiplier(step, settings, self.last_resample)
        warmup_steps = settings.sparsity_warmup_fraction * settings.steps
        coefficient = self.sparsity_coefficient * min(1.0, (step + 1) / max(1.0, warmup_steps))
        loss, parts, latents = training_step(sae, self.optimizer, x, coefficient, settings.autocast)
        # bookkeeping on the [batch x latents] code only when it is read: a comparison to a
        # bool tensor and a reduction over the batch cost ~10% of a step (docs/benchmarks.md)
        if settings.resample_every:
            self.fired |= latents.amax(0) > 0  # the latents that fired on some token
        resampled = 0
        if settings.resample_every and (step + 1) % settings.resample_every == 0 \
                and step + 1 < int(0.8 * settings.steps):
            resampled = resample_dead_latents(sae, self.optimizer, ~self.fired, x, self.generator)
            self.fired.zero_()
            if resampled:
                self.last_resample = step + 1
        if (step + 1) % settings.log_every == 0 or step + 1 == settings.steps or resampled:
            self.log.append({"step": step + 1, "loss": loss.item(), "l0": (latents > 0).sum(-1).float().mean().item(),
                             "lr": group["lr"], "resampled": resampled,
                             **{k: v.item() for k, v in parts.items()}})

    def state(self) -> dict:
        return {"sae": self.sae.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "fired": self.fired.clone(),
                "last_resample": self.last_resample, "log": list(self.log)}

    def load_state(self, state: dict) -> None:
        self.sae.load_state_dict(state["sae"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.fired.copy_(state["fired"])
        self.last_resample, self.log = state["last_resample"], list(state["log"])


def train_saes(trainers: list[SAETrainer], batches: Iterator[torch.Tensor], settings: SAETrainingSettings,
               normalisation_sample: torch.Tensor, checkpoint: Path | None = None,
               resume: dict | None = None, run_id: str = "") -> list[pd.DataFrame]:
    """Train a sweep in one pass: every batch of raw activations is read once and each
    trainer takes one step on it, so all SAEs see the same batches in the same order.
    Returns each SAE's training log. With `checkpoint`, the state of the whole sweep
    (every SAE's weights, Adam, RNG, dead-latent counts and log; the step; the global RNG)
    is saved there every `settings.checkpoint_every` steps; `resume` is such a state:
    training continues from its step, and `batches` must start at that step
    (`ActivationStore.batches(skip=...)`); `run_id` is stored with it so that only the
    same run resumes it."""
    device = trainers[0].sae.W_dec.device
    torch.manual_seed(settings.seed)
    scale = input_scale(normalisation_sample.to(device))
    for trainer in trainers:
        trainer.sae.input_scale.fill_(scale)
    start = 0
    if resume is not None:
        for trainer, state in zip(trainers, resume["saes"], strict=True):
            trainer.load_state(state)
        torch.set_rng_state(resume["torch_rng"])
        start = resume["step"]
    names = sorted({trainer.sae.architecture for trainer in trainers})
    for step in tqdm(range(start, settings.steps), desc=f"train {len(trainers)} {'/'.join(names)} SAEs",
                     initial=start, total=settings.steps, mininterval=5):
        batch = next(batches).to(device)
        for trainer in trainers:
            trainer.step(step, batch)
        if checkpoint is not None and settings.checkpoint_every \
                and (step + 1) % settings.checkpoint_every == 0 and step + 1 < settings.steps:
            save_checkpoint(checkpoint, {"run": run_id, "step": step + 1, "torch_rng": torch.get_rng_state(),
                                         "saes": [trainer.state() for trainer in trainers]})
    for trainer in trainers:
        trainer.sae.eval()
    return [pd.DataFrame(trainer.log) for trainer in trainers]


def train_sae(sae: SparseAutoencoder, batches: Iterator[torch.Tensor], sparsity_coefficient: float,
              learning_rate: float, settings: SAETrainingSettings,
              normalisation_sample: torch.Tensor, checkpoint: Path | None = None,
              resume: dict | None = None, run_id: str = "") -> pd.DataFrame:
    """Train one SAE in place (`train_saes` with a sweep of one); returns its training log."""
    trainer = SAETrainer(sae, sparsity_coefficient, learning_rate, settings)
    return train_saes([trainer], batches, settings, normalisation_sample, checkpoint, resume, run_id)[0]
