"""Linear probes for the sport at the final name token, layer by layer
(docs/references.md §1).

The paper finds probe accuracy ~90% at Pythia-2.8B's layer 6, plateauing around 8:
the sport is looked up by early-to-middle MLPs at the final name token. Probes are
trained on some athletes and scored on held-out athletes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression

from factlens.blocks import short_name
from factlens.facts.prompts import position_ids_from_mask
from factlens.statistics import bootstrap_mean



@torch.no_grad()
def residual_at_positions(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          positions: torch.Tensor, hooks: list[str],
                          batch_size: int = 64) -> torch.Tensor:
    """Residual stream [hooks, rows, d] at one position per row, at each of `hooks`
    (e.g. `factlens.blocks.residual_hooks`)."""
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(input_ids), batch_size):
        ids = input_ids[start:start + batch_size]
        mask = attention_mask[start:start + batch_size]
        rows = torch.arange(len(ids))
        pos = positions[start:start + batch_size]
        _, cache = model.run_with_cache(ids.to(device), attention_mask=mask.to(device),
                                        position_ids=position_ids_from_mask(mask).to(device),
                                        names_filter=lambda name: name in hooks)
        chunks.append(torch.stack([cache[h][rows, pos].float().cpu() for h in hooks]))
    return torch.cat(chunks, dim=1)


def split_athletes(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of row indices into probe-training and held-out athletes."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def split_by_name_parts(first: np.ndarray, last: np.ndarray, test_fraction: float,
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A split in which no first or last name occurs on both sides.

    A share p of the first names and of the last names is held out; test athletes
    have both parts held out, training athletes neither (the rest is unused), with p
    chosen so that test athletes make up `test_fraction` of those used.
    """
    rng = np.random.default_rng(seed)
    ratio = np.sqrt(test_fraction / (1 - test_fraction))
    share = ratio / (1 + ratio)  # p^2 / (p^2 + (1-p)^2) = test_fraction
    held_out = {}
    for key, parts in (("first", first), ("last", last)):
        distinct = np.unique(parts)
        n_test = max(1, int(round(share * len(distinct))))
        held_out[key] = np.isin(parts, rng.permutation(distinct)[:n_test])
    test = np.flatnonzero(held_out["first"] & held_out["last"])
    train = np.flatnonzero(~held_out["first"] & ~held_out["last"])
    return train, test


def probe_accuracy_by_layer(features: torch.Tensor, labels: np.ndarray, train: np.ndarray,
                            test: np.ndarray, regularisation: float = 1.0,
                            intervals: bool = True, hooks: list[str] | None = None) -> pd.DataFrame:
    """Held-out accuracy of a multinomial logistic-regression probe at each site (the
    rows of `features`, named by `hooks` when given), with a bootstrap 95% interval over
    the held-out athletes (NaN when `intervals` is off)."""
    rows = []
    for layer, x in enumerate(features.numpy()):
        mean, scale = x[train].mean(0), x[train].std(0) + 1e-6
        standardised = (x - mean) / scale
        probe = LogisticRegression(C=regularisation, max_iter=2000)
        probe.fit(standardised[train], labels[train])
        correct = probe.predict(standardised[test]) == labels[test]
        low, high = bootstrap_mean(correct) if intervals else (np.nan, np.nan)  # over athletes
        rows.append({"layer": layer, "site": short_name(hooks[layer]) if hooks else str(layer),
                     "hook": hooks[layer] if hooks else None,
                     "regularisation": regularisation,
                     "train_accuracy": probe.score(standardised[train], labels[train]),
                     "test_accuracy": float(correct.mean()), "test_accuracy_low": low,
                     "test_accuracy_high": high,
                     "train_athletes": len(train), "test_athletes": len(test)})
    return pd.DataFrame(rows)


def select_regularisation(features: torch.Tensor, labels: np.ndarray, train: np.ndarray,
                          strengths: list[float], folds: int = 3, seed: int = 0) -> dict[int, float]:
    """Per layer, the inverse L2 strength C with the best cross-validated accuracy on the
    training athletes alone (the held-out athletes never choose C)."""
    order = np.random.default_rng(seed).permutation(train)
    chunks = np.array_split(order, folds)
    chosen = {}
    for layer in range(features.shape[0]):
        scores = []
        for strength in strengths:
            accuracy = [probe_accuracy_by_layer(features[layer:layer + 1], labels,
                                                np.setdiff1d(train, chunk), chunk,
                                                strength, intervals=False)["test_accuracy"].item()
                        for chunk in chunks]
            scores.append(np.mean(accuracy))
        chosen[layer] = strengths[int(np.argmax(scores))]
    return chosen


def probe_sweep(features: torch.Tensor, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                strengths: list[float], seed: int = 0, hooks: list[str] | None = None) -> pd.DataFrame:
    """Probe accuracy at every layer for every C, with the C chosen by cross-validation
    on the training athletes marked `selected`."""
    table = pd.concat([probe_accuracy_by_layer(features, labels, train, test, strength, hooks=hooks)
                       for strength in strengths], ignore_index=True)
    chosen = select_regularisation(features, labels, train, strengths, seed=seed)
    table["selected"] = [chosen[layer] == strength
                         for layer, strength in zip(table["layer"], table["regularisation"])]
    return table
