"""The interpretability-illusion check of one direction at one site and position
(Makelov et al. 2024; docs/references.md §4).

For a candidate direction v (DAS, or one found without optimising the patch: mean
difference, linear probe, the best single neuron, the best SAE latent) we patch along
v, v_row and v_null on held-out pairs, measure dormancy (how well the unpatched
projections on v_row and v_null separate the two sports) and how often patching along
v pushes the activation's v_row projection outside its natural range. At an MLP's
hidden layer the 1-D patch along v is also run as the equivalent rank-1 edit of W_out
(`factlens.illusion.editing`), so edit success and patch success can be compared pair by pair.

The verdict rule and its thresholds: `factlens.illusion.verdicts`.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from factlens.illusion.editing import edit_hooks, rank_one_edit
from factlens.illusion.intervention import along, outcome_from_differences, pair_logit_differences
from factlens.illusion.subspace import class_separation, outside_natural_range, patch_along, split_direction

def best_separating_unit(features: torch.Tensor, labels: torch.Tensor) -> int:
    """Index of the coordinate (neuron or SAE latent) whose values best separate the labels."""
    scores = [class_separation(features[:, i], labels) if features[:, i].std() > 0 else 0.0
              for i in range(features.shape[1])]
    return int(np.nanargmax(scores))


def baseline_directions(activations: torch.Tensor, labels: torch.Tensor, train: torch.Tensor,
                        neurons: bool, sae=None) -> dict[str, torch.Tensor]:
    """Directions found without optimising the patch, from the training athletes."""
    x, y = activations[train], labels[train]
    first, second = y.unique()[0], y.unique()[-1]
    directions = {"mean difference": x[y == second].mean(0) - x[y == first].mean(0)}
    probe = LogisticRegression(max_iter=2000).fit(x.numpy(), y.numpy())
    directions["linear probe"] = torch.tensor(probe.coef_[0], dtype=torch.float32)
    if neurons:
        unit = torch.zeros(x.shape[1])
        unit[best_separating_unit(x, y)] = 1.0
        directions["best neuron"] = unit
    if sae is not None:
        with torch.no_grad():
            latent = best_separating_unit(sae.features(x), y)
            directions["best SAE latent"] = sae.W_dec[latent].detach().clone()
    return {name: v / v.norm() for name, v in directions.items()}


def edit_outcome(model, prompts, hook: str, activations: torch.Tensor, base: torch.Tensor,
                 source: torch.Tensor, answer_ids: torch.Tensor, direction: torch.Tensor,
                 patched: dict) -> dict:
    """The rank-1 W_out edit equivalent to the 1-D patch along `direction` at an MLP's
    hidden layer, beside that patch (`patched`: its pair logit differences): FLDD and
    interchange of the edit, and the fraction of pairs on which edit and patch agree
    about switching the answer."""
    layer = int(hook.split(".")[1])
    w_out = model.W_out[layer].detach().float().cpu()

    def hooks_for(b, s):
        return edit_hooks(layer, *rank_one_edit(activations[b], activations[s], direction, w_out))

    edited = pair_logit_differences(model, prompts, hook, activations, base, source, answer_ids,
                                    edit_hooks=hooks_for)
    outcome = outcome_from_differences(edited)
    outcome["edit_patch_agreement"] = float(((edited["intervened"] < 0)
                                             == (patched["intervened"] < 0)).float().mean())
    return outcome


def check_direction(model, prompts, hook: str, activations: torch.Tensor, base: torch.Tensor,
                    source: torch.Tensor, answer_ids: torch.Tensor, direction: torch.Tensor,
                    reader: torch.Tensor, test: torch.Tensor) -> list[dict]:
    """Rows of the illusion table for one direction: v, v_row, v_null (and, at an MLP's
    hidden layer, v as a rank-1 edit of W_out)."""
    v_row, v_null = split_direction(direction, reader)
    labels = prompts.label[test]
    natural = activations[test]
    row_unit = v_row / v_row.norm() if v_row.norm() > 1e-6 else None
    rows, differences = [], {}
    for variant, vector in (("v", direction), ("v_row", v_row), ("v_null", v_null)):
        norm = float(vector.norm())
        row = {"variant": variant, "norm": norm, "fldd": np.nan, "interchange_accuracy": np.nan,
               "separation": np.nan}
        if norm > 1e-6:
            differences[variant] = pair_logit_differences(model, prompts, hook, activations, base,
                                                           source, answer_ids, along(vector))
            row.update(outcome_from_differences(differences[variant]))
            row["separation"] = class_separation(natural @ (vector / norm), labels)
        if variant == "v" and row_unit is not None:
            patched = patch_along(activations[base], activations[source], direction)
            row["outside_natural_range"] = outside_natural_range(natural @ row_unit,
                                                                 patched @ row_unit)
        rows.append(row)
    if hook.endswith("mlp.hook_post"):
        rows.append({"variant": "rank-1 edit", "norm": 1.0,
                     **edit_outcome(model, prompts, hook, activations, base, source, answer_ids,
                                    direction, differences.get("v") or pair_logit_differences(
                                        model, prompts, hook, activations, base, source, answer_ids,
                                        along(direction)))})
    return rows
