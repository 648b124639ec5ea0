"""Gradient attributions vs activation patching, and the JumpReLU blind spot
(docs/references.md §5).

Two SAEs are spliced into the model with their error terms held at the clean run's
values, so the spliced model's output equals the original one: an upstream SAE whose
latents at the final name token are the nodes, and a downstream SAE (ReLU or
JumpReLU) through which their effect must pass. For a node j with clean value c and
corrupt value c' (Delta = c' - c) and the metric M (logit difference):

    AP   = M(f with f_j = c') - M(f)
    AtP  = Delta * dM/df_j at the clean run
    IG_k = Delta * mean over the k segments of the path c + alpha Delta of dM/df_j
           (trapezoid rule on alpha = 0, 1/k, ..., 1)
    IG + jump = IG_k + sum over downstream latents i whose JumpReLU switches along the
           path of +-theta_i * dM/df_i (the step autograd cannot see)

A ReLU downstream has theta = 0: no jump, and IG converges to AP as k grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from factlens.prompts import forward_logits


@dataclass
class Splice:
    """The clean run's values that stay fixed while a node varies."""

    up_features: torch.Tensor  # [rows, latents] at the final name token
    up_error: torch.Tensor  # [rows, d_up]
    down_error: torch.Tensor  # [rows, seq, d_down]
    down_mask: torch.Tensor  # [rows, seq] positions spliced downstream


def _threshold(sae) -> torch.Tensor:
    return sae.threshold.detach() if hasattr(sae, "threshold") else torch.zeros(sae.d_sae)


class SplicedModel:
    """M(upstream latents) through the model with both SAEs spliced in."""

    def __init__(self, model, prompts, up_hook: str, up_sae, down_hook: str, down_sae,
                 good: torch.Tensor, bad: torch.Tensor):
        self.model, self.prompts = model, prompts
        self.up_hook, self.up_sae = up_hook, up_sae
        self.down_hook, self.down_sae = down_hook, down_sae
        self.good, self.bad = good, bad
        self.rows = torch.arange(len(prompts.input_ids))
        seq = prompts.input_ids.shape[1]
        self.down_mask = torch.arange(seq)[None, :] >= prompts.position[:, None]
        self.splice = self._clean_splice()

    def _forward(self, hooks):
        logits = forward_logits(self.model, self.prompts.input_ids, self.prompts.attention_mask,
                                hooks)[:, -1].float()
        return logits[self.rows, self.good] - logits[self.rows, self.bad]

    @torch.no_grad()
    def _clean_splice(self) -> Splice:
        captured = {}

        def grab(name):
            def hook_fn(activation, hook=None):
                captured[name] = activation.detach().clone()
            return hook_fn

        self._forward([(self.up_hook, grab("up")), (self.down_hook, grab("down"))])
        up = captured["up"][self.rows, self.prompts.position]
        features = self.up_sae.features(up)
        down = captured["down"]
        return Splice(features, up - self.up_sae.decode(features),
                      down - self.down_sae.decode(self.down_sae.features(down)), self.down_mask)

    def upstream_features(self, other_prompts) -> torch.Tensor:
        """Upstream latents of other prompts at their final name token (e.g. the corrupt run)."""
        captured = {}

        def grab(activation, hook=None):
            captured["up"] = activation.detach()

        with torch.no_grad():
            forward_logits(self.model, other_prompts.input_ids, other_prompts.attention_mask,
                           [(self.up_hook, grab)])
        return self.up_sae.features(captured["up"][self.rows, other_prompts.position])

    def run(self, features: torch.Tensor, need_grad: bool = False):
        """M per row for upstream latents `features`; with `need_grad`, also the
        downstream latents (retaining their gradient) and pre-activations."""
        store = {}

        def up_hook(activation, hook=None):
            value = self.up_sae.decode(features) + self.splice.up_error
            return activation.index_put((self.rows, self.prompts.position), value.to(activation.dtype))

        def down_hook(activation, hook=None):
            down_features = self.down_sae.features(activation)
            if need_grad:
                down_features.retain_grad()
                store["features"] = down_features
                store["pre"] = self.down_sae.pre_activations(activation).detach()
            value = self.down_sae.decode(down_features) + self.splice.down_error
            return torch.where(self.down_mask[..., None], value.to(activation.dtype), activation)

        metric = self._forward([(self.up_hook, up_hook), (self.down_hook, down_hook)])
        return metric, store


def attribution_patching(spliced: SplicedModel, corrupt_features: torch.Tensor) -> torch.Tensor:
    """AtP for every upstream latent: [rows, latents]."""
    features = spliced.splice.up_features.clone().requires_grad_(True)
    metric, _ = spliced.run(features)
    (gradient,) = torch.autograd.grad(metric.sum(), features)
    return (corrupt_features - spliced.splice.up_features) * gradient


@torch.no_grad()
def activation_patching(spliced: SplicedModel, corrupt_features: torch.Tensor, latent: int) -> torch.Tensor:
    """AP of one upstream latent: [rows]."""
    clean = spliced.splice.up_features
    patched = clean.clone()
    patched[:, latent] = corrupt_features[:, latent]
    return spliced.run(patched)[0] - spliced.run(clean)[0]


def integrated_gradients(spliced: SplicedModel, corrupt_features: torch.Tensor, latent: int,
                         steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(IG_k, IG_k + jump term, threshold crossings) of one upstream latent, per row."""
    clean = spliced.splice.up_features
    delta = corrupt_features[:, latent] - clean[:, latent]
    theta = _threshold(spliced.down_sae)
    gradients, jump = [], torch.zeros(len(clean))
    crossings = torch.zeros(len(clean), dtype=torch.long)
    previous_active = previous_gradient = None
    for step in range(steps + 1):
        features = clean.clone()
        features[:, latent] = clean[:, latent] + step / steps * delta
        features.requires_grad_(True)
        metric, store = spliced.run(features, need_grad=True)
        metric.sum().backward()
        gradients.append(features.grad[:, latent].detach())
        active = (store["pre"] > theta) & spliced.down_mask[..., None]
        down_gradient = store["features"].grad.detach()
        if previous_active is not None:
            switched_on, switched_off = active & ~previous_active, previous_active & ~active
            crossings += (switched_on | switched_off).sum((1, 2))
            # a latent switching on jumps up by theta, one switching off drops by theta;
            # its effect is read at the end of the segment where it is active
            jump += (theta * down_gradient * switched_on).sum((1, 2))
            jump -= (theta * previous_gradient * switched_off).sum((1, 2))
        previous_active, previous_gradient = active, down_gradient
    gradients = torch.stack(gradients)
    ig = delta * ((gradients[1:] + gradients[:-1]) / 2).mean(0)
    return ig, ig + jump, crossings


def choose_latents(atp: torch.Tensor, top: int, random: int, seed: int) -> list[int]:
    """The `top` latents with the largest mean |AtP| plus `random` others that move."""
    score = atp.abs().mean(0)
    ranked = score.argsort(descending=True).tolist()
    chosen = [j for j in ranked[:top] if score[j] > 0]
    rest = [j for j in ranked[top:] if score[j] > 0]
    generator = np.random.default_rng(seed)
    extra = generator.choice(rest, min(random, len(rest)), replace=False).tolist() if rest else []
    return chosen + [int(j) for j in extra]


def compare_methods(frame: pd.DataFrame, methods: list[str], top_k: int = 10) -> pd.DataFrame:
    """Agreement of each estimate with AP: Pearson, Spearman, relative MAE, sign
    agreement and top-k recall, overall and by whether thresholds were crossed."""
    rows = []
    strata = {"all": frame, "no crossing": frame[frame.crossings == 0],
              "crossings": frame[frame.crossings > 0]}
    for stratum, part in strata.items():
        if len(part) < 3:
            continue
        truth = part["ap"]
        truly_top = set(truth.abs().nlargest(min(top_k, len(part))).index)
        for method in methods:
            estimate = part[method]
            moving = truth.abs() > 1e-6
            rows.append({
                "stratum": stratum, "method": method, "entries": len(part),
                "pearson": truth.corr(estimate), "spearman": truth.corr(estimate, method="spearman"),
                "relative_mae": float((estimate - truth).abs().mean() / truth.abs().mean()),
                "sign_agreement": float((np.sign(estimate[moving]) == np.sign(truth[moving])).mean()),
                "top_k_recall": len(truly_top & set(estimate.abs().nlargest(len(truly_top)).index))
                / len(truly_top),
            })
    return pd.DataFrame(rows)
