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


def l0_at_loss_recovered(frame: pd.DataFrame, target: float) -> float:
    """The L0 an architecture needs to reach `target` loss recovered, interpolating log L0
    linearly in loss recovered between neighbouring points of its sweep sorted by L0
    (L0 spans orders of magnitude and the Pareto curves are plotted against log L0; NaN
    outside the swept range)."""
    ordered = frame.sort_values("l0")
    recovered, l0 = ordered["loss_recovered"].to_numpy(), ordered["l0"].to_numpy()
    # loss recovered rises with L0 along a sweep; keep the monotone envelope
    envelope = np.maximum.accumulate(recovered)
    if target < envelope.min() or target > envelope.max():
        return float("nan")
    index = int(np.searchsorted(envelope, target))
    if index == 0 or envelope[index] == target:
        return float(l0[index])
    low, high = envelope[index - 1], envelope[index]
    fraction = (target - low) / (high - low)
    return float(np.exp(np.log(l0[index - 1]) + fraction * (np.log(l0[index]) - np.log(l0[index - 1]))))
