"""The interpretability-illusion check for one site (PAPERS.md §4).

For each candidate direction (DAS, and directions found without optimisation: mean
difference, linear probe, the best single neuron, the best SAE latent) we patch along
v, v_row and v_null, and measure dormancy: how well the unpatched projections on v_row
and v_null separate the two sports, and how often patching along v pushes the
activation's projection on v_row outside its natural range.

Verdict rule (also in the README): a direction is *illusory* when patching along v
works (FLDD >= 10%), v_row alone gets less than half of that, v_null alone less than a
tenth (the effect needs both parts), and v_null separates the sports at least twice as
well as v_row (v_row is dormant, v_null is disconnected). Directions with FLDD < 10%
have "no effect"; the rest are "not illusory".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression

from factlens.das import patching_outcome
from factlens.subspace import class_separation, outside_natural_range, patch_along, split_direction

MIN_EFFECT = 0.1


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


def check_direction(model, prompts, hook: str, activations: torch.Tensor, base: torch.Tensor,
                    source: torch.Tensor, answer_ids: torch.Tensor, direction: torch.Tensor,
                    reader: torch.Tensor, test: torch.Tensor) -> list[dict]:
    """Rows of the illusion table for one direction: v, v_row and v_null."""
    v_row, v_null = split_direction(direction, reader)
    labels = prompts.label[test]
    natural = activations[test]
    row_unit = v_row / v_row.norm() if v_row.norm() > 1e-6 else None
    rows = []
    for variant, vector in (("v", direction), ("v_row", v_row), ("v_null", v_null)):
        norm = float(vector.norm())
        row = {"variant": variant, "norm": norm, "fldd": np.nan, "interchange_accuracy": np.nan,
               "separation": np.nan}
        if norm > 1e-6:
            row.update(patching_outcome(model, prompts, hook, activations, base, source,
                                        answer_ids, vector))
            row["separation"] = class_separation(natural @ (vector / norm), labels)
        if variant == "v" and row_unit is not None:
            patched = patch_along(activations[base], activations[source], direction)
            row["outside_natural_range"] = outside_natural_range(natural @ row_unit,
                                                                 patched @ row_unit)
        rows.append(row)
    return rows


def verdict(rows: pd.DataFrame) -> str:
    """Apply the rule in the module docstring to one direction's v / v_row / v_null rows."""
    by_variant = rows.set_index("variant")
    effect = by_variant.loc["v", "fldd"]
    if not effect >= MIN_EFFECT:
        return "no effect"
    row_effect = np.nan_to_num(by_variant.loc["v_row", "fldd"])
    null_effect = np.nan_to_num(by_variant.loc["v_null", "fldd"])
    row_separation = np.nan_to_num(by_variant.loc["v_row", "separation"])
    null_separation = np.nan_to_num(by_variant.loc["v_null", "separation"])
    illusory = (row_effect < 0.5 * effect and abs(null_effect) < 0.1 * effect
                and null_separation >= 2 * row_separation)
    return "illusory" if illusory else "not illusory"
