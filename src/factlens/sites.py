"""Where the illusion check runs: sites and positions chosen by rule from the same run's
activation patching (docs/references.md §4), never by hand.

Makelov et al. predict the illusion at an MLP that is *off* the circuit (patching its
whole output does little) while the residual stream feeding it carries the variable.
Candidates are the MLP hidden layers (`blocks.L.mlp.hook_post`) at the final name
token and the final token; an MLP's input is the residual stream before its block
(`blocks.L.hook_resid_pre`, i.e. `blocks.{L-1}.hook_resid_post`: in a parallel-residual
block such as Pythia's the MLP reads it directly; in a sequential block it reads it
plus attention L). A candidate must be *readable*: the last layer's MLP at a token
before the final one cannot reach the answer, so no direction there can do anything.

Roles:
- off-circuit (the faithful analogue): whole-component patch restores < 10%, and of
  those the one whose input restores most (at least 20%);
- residual feeding it: the residual stream before that MLP, same position (the paper's
  bottleneck comparison, resid_post 8 beside MLP8);
- on-circuit: the MLP whose whole-component patch restores most, if at least 10% (a
  genuine direction is expected there);
- negative control: the MLP whose input restores least (< 5%: it carries no sport, so
  every direction must fail there).
"""

from __future__ import annotations

import pandas as pd

OFF_CIRCUIT_MAX_WHOLE = 0.10
OFF_CIRCUIT_MIN_INPUT = 0.20
NEGATIVE_MAX_INPUT = 0.05
ON_CIRCUIT_MIN_WHOLE = 0.10
POSITIONS = ("final name token", "final token")


def position_slug(position: str) -> str:
    """A position as a path component: 'final name token' -> 'final_name_token'."""
    return position.replace(" ", "_")


def residual_before(layer: int) -> str:
    return "blocks.0.hook_resid_pre" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"


def mlp_candidates(patching: pd.DataFrame, final_token: str) -> pd.DataFrame:
    """Every MLP hidden layer at both positions, with the fraction of the logit
    difference that patching its whole output and its input restores."""
    restored = patching.set_index(["family", "hook", "position"])["restored_mean"]
    layers = sorted({int(hook.split(".")[1]) for hook in patching["hook"]})
    rows = []
    for layer in layers:
        for position in POSITIONS:
            label = final_token if position == "final token" else position
            rows.append({
                "hook": f"blocks.{layer}.mlp.hook_post", "position": position, "layer": layer,
                "whole_restored": restored.get(("component", f"blocks.{layer}.hook_mlp_out", label)),
                "input_restored": restored.get(("residual", residual_before(layer), label)),
                "readable": position == "final token" or layer < layers[-1],
            })
    return pd.DataFrame(rows)


def choose_sites(patching: pd.DataFrame, final_token: str) -> pd.DataFrame:
    """One row per role (see the module docstring): role, hook, position, the two
    restoration fractions the choice rests on, and the rule."""
    candidates = mlp_candidates(patching, final_token).dropna()
    candidates = candidates[candidates["readable"]]
    chosen = []
    off = candidates[(candidates["whole_restored"].abs() < OFF_CIRCUIT_MAX_WHOLE)
                     & (candidates["input_restored"] >= OFF_CIRCUIT_MIN_INPUT)]
    if len(off):
        site = off.sort_values(["input_restored", "layer"], ascending=[False, True]).iloc[0]
        chosen.append({**site, "role": "off-circuit",
                       "rule": f"|whole| < {OFF_CIRCUIT_MAX_WHOLE:.0%}, largest input (>= "
                               f"{OFF_CIRCUIT_MIN_INPUT:.0%})"})
        if site["layer"] > 0:
            chosen.append({**site, "hook": f"blocks.{site['layer'] - 1}.hook_resid_post",
                           "role": "residual feeding the off-circuit MLP",
                           "whole_restored": site["input_restored"],
                           "rule": "the residual stream the off-circuit MLP reads"})
    on = candidates[candidates["whole_restored"] >= ON_CIRCUIT_MIN_WHOLE]
    if len(on):
        site = on.sort_values(["whole_restored", "layer"], ascending=[False, True]).iloc[0]
        chosen.append({**site, "role": "on-circuit",
                       "rule": f"largest whole-component effect (>= {ON_CIRCUIT_MIN_WHOLE:.0%})"})
    negative = candidates[candidates["input_restored"].abs() < NEGATIVE_MAX_INPUT]
    if len(negative):
        site = negative.assign(size=negative["input_restored"].abs()).sort_values(
            ["size", "layer"]).iloc[0].drop("size")
        chosen.append({**site, "role": "negative control",
                       "rule": f"smallest input effect (< {NEGATIVE_MAX_INPUT:.0%})"})
    columns = ["role", "hook", "position", "whole_restored", "input_restored", "rule"]
    return pd.DataFrame(chosen, columns=columns)


def restoration(patching: pd.DataFrame, hook: str, position: str, final_token: str) -> dict:
    """What patching says about one check's site: for an MLP hidden layer the whole output
    and the input (as for the roles), for a residual stream the stream itself."""
    label = final_token if position == "final token" else position
    restored = patching.set_index(["family", "hook", "position"])["restored_mean"]
    layer = int(hook.split(".")[1])
    if hook.endswith("mlp.hook_post"):
        return {"whole_restored": restored.get(("component", f"blocks.{layer}.hook_mlp_out", label)),
                "input_restored": restored.get(("residual", residual_before(layer), label))}
    return {"whole_restored": restored.get(("residual", hook, label)), "input_restored": None}


def grid(n_layers: int) -> list[tuple[str, str]]:
    """Every MLP hidden layer and residual stream at both positions (the full sweep)."""
    hooks = [f"blocks.{layer}.{kind}" for layer in range(n_layers)
             for kind in ("mlp.hook_post", "hook_resid_post")]
    return [(hook, position) for hook in hooks for position in POSITIONS]
