"""SAE evaluation as in the Gated SAE paper (docs/references.md §2), on held-out tokens.

    L0               mean number of active latents per token
    FVU              E||x - x_hat||^2 / E||x - E[x]||^2
    shrinkage gamma  E||x_hat||^2 / E[x_hat . x]     (1 = unbiased, < 1 = shrinkage)
    loss recovered   (CE_zero - CE_sae) / (CE_zero - CE_clean)
    delta LM loss    CE_sae - CE_clean
    alive fraction   latents that fire at least once; dense latents fire on > 10% of tokens
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

DENSE_FIRING_RATE = 0.1


@torch.no_grad()
def reconstruction_metrics(sae, activations: torch.Tensor, batch_size: int = 4096) -> dict:
    """L0, FVU, shrinkage, alive and dense latents of `sae` on raw `activations`."""
    n = len(activations)
    firing = torch.zeros(sae.d_sae, dtype=torch.float64)
    squared_error = active = hat_norm = hat_dot = 0.0
    for start in range(0, n, batch_size):
        x = activations[start:start + batch_size].float()
        f = sae.features(x)
        x_hat = sae(x)
        fires = f > 0
        firing += fires.sum(0, dtype=torch.float64)
        active += fires.sum().item()
        squared_error += (x - x_hat).pow(2).sum().item()
        hat_norm += x_hat.pow(2).sum().item()
        hat_dot += (x_hat * x).sum().item()
    variance = (activations.double() - activations.double().mean(0)).pow(2).sum().item()
    rate = firing / n
    return {
        "l0": active / n,
        "fvu": squared_error / variance,
        "shrinkage_gamma": hat_norm / hat_dot,
        "alive_fraction": float((firing > 0).double().mean()),
        "dense_latents": int((rate > DENSE_FIRING_RATE).sum()),
        "eval_tokens": n,
    }


def loss_recovered(ce_clean: float, ce_zero: float, ce_sae: float) -> dict:
    """Fraction of the zero-ablation loss increase that the reconstruction recovers."""
    return {"ce_clean": ce_clean, "ce_zero_ablation": ce_zero, "ce_sae": ce_sae,
            "loss_recovered": (ce_zero - ce_sae) / (ce_zero - ce_clean),
            "delta_lm_loss": ce_sae - ce_clean}


@torch.no_grad()
def per_token_statistics(sae, activations: torch.Tensor, batch_size: int = 4096) -> dict[str, torch.Tensor]:
    """Per row of raw `activations`: the number of active latents (their mean is L0) and
    the squared reconstruction error (summed and divided by the centred sum of squares,
    it is the FVU)."""
    active, error = [], []
    for start in range(0, len(activations), batch_size):
        x = activations[start:start + batch_size].float()
        f = sae.features(x)
        active.append((f > 0).sum(-1))
        error.append((x - sae.decode(f) / sae.input_scale).pow(2).sum(-1))
    return {"active": torch.cat(active), "squared_error": torch.cat(error)}


def value_at_l0(l0, values, target: float) -> np.ndarray:
    """`values` along a sweep at L0 = `target`, interpolated linearly in log L0 between the
    neighbouring SAEs in L0 order; NaN outside the swept range. As in `log_l0_at`, axis 0
    runs over the sweep's SAEs and further axes are evaluated independently."""
    l0, values = np.asarray(l0, float), np.asarray(values, float)
    order = np.argsort(l0, axis=0)
    log_l0, values = np.log(np.take_along_axis(l0, order, 0)), np.take_along_axis(values, order, 0)
    high = np.clip(np.argmax(log_l0 >= np.log(target), axis=0)[None], 1, len(l0) - 1)
    low = high - 1

    def at(array, index):
        return np.take_along_axis(array, index, 0)[0]

    gap = at(log_l0, high) - at(log_l0, low)
    fraction = np.where(gap > 0, (np.log(target) - at(log_l0, low)) / np.where(gap > 0, gap, 1.0), 0.0)
    value = at(values, low) + fraction * (at(values, high) - at(values, low))
    inside = (np.log(target) >= log_l0[0]) & (np.log(target) <= log_l0[-1])
    return np.where(inside, value, np.nan)


def log_l0_at(l0, recovered, target: float) -> np.ndarray:
    """The L0 needed to reach `target` loss recovered along a sweep, interpolating log L0
    linearly in loss recovered between neighbouring points sorted by L0 (L0 spans orders of
    magnitude and the Pareto curves are plotted against log L0); NaN outside the swept
    range. Axis 0 of `l0` and `recovered` runs over the sweep's SAEs; any further axes
    (e.g. bootstrap resamples) are evaluated independently."""
    l0, recovered = np.asarray(l0, float), np.asarray(recovered, float)
    order = np.argsort(l0, axis=0)
    l0, recovered = np.take_along_axis(l0, order, 0), np.take_along_axis(recovered, order, 0)
    # loss recovered rises with L0 along a sweep; keep the monotone envelope
    envelope = np.maximum.accumulate(recovered, axis=0)
    high = np.argmax(envelope >= target, axis=0)[None]  # the first point reaching the target
    low = np.maximum(high - 1, 0)

    def at(values, index):
        return np.take_along_axis(values, index, 0)[0]

    gap = at(envelope, high) - at(envelope, low)
    fraction = np.where(gap > 0, (target - at(envelope, low)) / np.where(gap > 0, gap, 1.0), 1.0)
    log_l0 = np.log(at(l0, low)) + fraction * (np.log(at(l0, high)) - np.log(at(l0, low)))
    inside = (target >= envelope[0]) & (target <= envelope[-1])
    return np.where(inside, np.exp(log_l0), np.nan)


def l0_at_loss_recovered(frame: pd.DataFrame, target: float) -> float:
    """`log_l0_at` for one sweep given as a table with columns l0 and loss_recovered."""
    return float(log_l0_at(frame["l0"], frame["loss_recovered"], target))
