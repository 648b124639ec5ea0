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
                  sparsity_coefficient: float, autocast: str = "none") -> tuple[torch.Tensor, dict]:
    """One optimiser step on scaled inputs `x`, with the decoder kept on the unit sphere.

    With `autocast="bfloat16"` the forward pass runs under bf16 autocast (matmuls in bf16,
    parameters, gradients and Adam's state in fp32)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast == "bfloat16"):
        loss, parts = sae.loss(x, sparsity_coefficient)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    sae.remove_parallel_decoder_gradient()
    optimizer.step()
    sae.after_step()
    return loss, parts


def train_sae(sae: SparseAutoencoder, batches: Iterator[torch.Tensor], sparsity_coefficient: float,
              learning_rate: float, settings: SAETrainingSettings,
              normalisation_sample: torch.Tensor, checkpoint: Path | None = None,
              resume: dict | None = None, run_id: str = "") -> pd.DataFrame:
    """Train `sae` in place on `batches` of raw activations, on the device `sae` lives on;
    returns the training log. With `checkpoint`, the state (weights, Adam, step, RNGs,
    dead-latent counts, log) is saved there every `settings.checkpoint_every` steps;
    `resume` is such a state: training continues from its step, and `batches` must
    start at that step (`ActivationStore.batches(skip=...)`); `run_id` is stored with it
    so that only the same run resumes it."""
    device = sae.W_dec.device
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    sae.input_scale.fill_(input_scale(normalisation_sample.to(device)))
    optimizer = torch.optim.Adam(sae.parameters(), lr=learning_rate,
                                 betas=(settings.adam_beta1, settings.adam_beta2))
    fired = torch.zeros(sae.d_sae, dtype=torch.bool, device=device)
    start, last_resample, log = 0, None, []
    if resume is not None:
        sae.load_state_dict(resume["sae"])
        optimizer.load_state_dict(resume["optimizer"])
        generator.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        fired.copy_(resume["fired"])
        start, last_resample, log = resume["step"], resume["last_resample"], resume["log"]
    for step in tqdm(range(start, settings.steps), desc=f"train {sae.architecture} SAE",
                     initial=start, total=settings.steps, mininterval=5):
        x = next(batches).to(device) * sae.input_scale
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * learning_rate_multiplier(step, settings, last_resample)
        loss, parts = training_step(sae, optimizer, x, sparsity_coefficient, settings.autocast)
        with torch.no_grad():
            active = sae.encode(x) > 0
            fired |= active.any(0)
        resampled = 0
        if settings.resample_every and (step + 1) % settings.resample_every == 0 \
                and step + 1 < int(0.8 * settings.steps):
            resampled = resample_dead_latents(sae, optimizer, ~fired, x, generator)
            fired.zero_()
            if resampled:
                last_resample = step + 1
        if (step + 1) % settings.log_every == 0 or step + 1 == settings.steps or resampled:
            log.append({"step": step + 1, "loss": loss.item(), "l0": active.sum(-1).float().mean().item(),
                        "lr": group["lr"], "resampled": resampled,
                        **{k: v.item() for k, v in parts.items()}})
        if checkpoint is not None and settings.checkpoint_every \
                and (step + 1) % settings.checkpoint_every == 0 and step + 1 < settings.steps:
            save_checkpoint(checkpoint, {
                "run": run_id, "step": step + 1, "sae": sae.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "fired": fired.clone(), "last_resample": last_resample, "log": list(log)})
    sae.eval()
    return pd.DataFrame(log)
