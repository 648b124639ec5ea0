"""Where the illusion check runs: sites and positions chosen by rule from the same run's
activation patching and sport probes (docs/illusion.md), never by hand.

Makelov et al. predict the illusion at an MLP that is *off* the circuit (patching its
whole output does little) while the residual stream it reads carries the variable
*linearly*: a residual that carries the athlete's identity, from which later layers
compute the sport, restores a lot when patched without holding any sport direction.
Candidates are the MLP hidden layers (`blocks.L.mlp.hook_post`) at the final name
token and the final token. An MLP's input is the residual stream it reads
(`factlens.blocks.mlp_input`: `hook_resid_pre` in a parallel block, `hook_resid_mid`
in a sequential one). A candidate must be *readable*: the last layer's MLP at a token
before the final one cannot reach the answer.

Roles (thresholds in `SiteThresholds`):
- off-circuit (the paper's site: IOI MLP8 at the last token): at the final token, the
  whole-output patch restores less than `max_whole`, the sport probe on the MLP's input
  reaches `min_input_probe` on held-out athletes, and the input patch restores at least
  `min_input_restored`; of those, the one whose input restores most;
- residual after it: `blocks.L.hook_resid_post` at the same position (the paper's
  bottleneck comparison, resid_post 8 beside MLP8);
- on-circuit: the MLP whose whole-output patch restores most, if at least `min_on_whole`
  (a genuine direction is expected there);
- negative control: an MLP whose input *differs* between the two prompts of a pair
  (its input patch is not identically 0) but carries no sport (probe at most
  `max_control_probe`, input patch below `max_control_restored`); the lowest probe
  wins. A site whose input is identical in both prompts gives 0 by construction and
  controls nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from factlens.blocks import mlp_input, parallel_from_hooks

POSITIONS = ("final name token", "final token")


@dataclass(frozen=True)
class SiteThresholds:
    """The lines the roles are drawn with (stated once, in docs/illusion.md)."""

    max_whole: float = 0.10
    min_input_probe: float = 0.80
    min_input_restored: float = 0.20
    min_on_whole: float = 0.10
    max_control_probe: float = 0.45
    max_control_restored: float = 0.05

    def off_circuit_rule(self) -> str:
        return (f"at the final token, |whole| < {self.max_whole:.0%}, input probe >= "
                f"{self.min_input_probe:.0%}, input restores >= {self.min_input_restored:.0%}; "
                "the largest input effect")

    def control_rule(self) -> str:
        return (f"input differs within pairs, input probe <= {self.max_control_probe:.0%}, input "
                f"restores < {self.max_control_restored:.0%}; the lowest probe")


def position_slug(position: str) -> str:
    """A position as a path component: 'final name token' -> 'final_name_token'."""
    return position.replace(" ", "_")


def mlp_candidates(patching: pd.DataFrame, probes: pd.DataFrame, final_token: str) -> pd.DataFrame:
    """Every MLP hidden layer at both positions: the fraction of the logit difference
    that patching its whole output and its input restores, whether its input differs
    within pairs, and the held-out sport-probe accuracy on its input."""
    residual = patching[patching["family"] == "residual"]
    parallel = parallel_from_hooks(residual["hook"])
    restored = patching.set_index(["family", "hook", "position"])
    probe = (probes[probes["selected"]].set_index(["hook", "position"])["test_accuracy"]
             if len(probes) else pd.Series(dtype=float))
    layers = sorted({int(hook.split(".")[1]) for hook in patching["hook"]})
    rows = []
    for layer in layers:
        for position in POSITIONS:
            label = final_token if position == "final token" else position
            reads = mlp_input(layer, parallel)
            whole = restored["restored_mean"].get(("component", f"blocks.{layer}.hook_mlp_out", label))
            given = restored.index.isin([("residual", reads, label)]).any()
            rows.append({
                "hook": f"blocks.{layer}.mlp.hook_post", "position": position, "layer": layer,
                "input_hook": reads, "whole_restored": whole,
                "input_restored": restored.loc[("residual", reads, label), "restored_mean"] if given else None,
                # an input identical in both prompts of every pair restores exactly 0 on every pair
                "input_differs": bool(given and (restored.loc[("residual", reads, label), "restored_sem"] > 0
                                                 or restored.loc[("residual", reads, label), "restored_mean"] != 0)),
                "input_probe": probe.get((reads, position)),
                "readable": position == "final token" or layer < layers[-1],
            })
    return pd.DataFrame(rows)


def choose_sites(patching: pd.DataFrame, probes: pd.DataFrame, final_token: str,
                 thresholds: SiteThresholds = SiteThresholds()) -> pd.DataFrame:
    """One row per role (see the module docstring): role, hook, position, the numbers the
    choice rests on, and the rule."""
    candidates = mlp_candidates(patching, probes, final_token)
    candidates = candidates[candidates["readable"]].dropna(subset=["whole_restored", "input_restored"])
    chosen = []
    off = candidates[(candidates["position"] == "final token")
                     & (candidates["whole_restored"].abs() < thresholds.max_whole)
                     & (candidates["input_probe"] >= thresholds.min_input_probe)
                     & (candidates["input_restored"] >= thresholds.min_input_restored)]
    if len(off):
        site = off.sort_values(["input_restored", "layer"], ascending=[False, True]).iloc[0]
        chosen.append({**site, "role": "off-circuit", "rule": thresholds.off_circuit_rule()})
        after = f"blocks.{site['layer']}.hook_resid_post"
        label = final_token if site["position"] == "final token" else site["position"]
        chosen.append({**site, "hook": after, "role": "residual after the off-circuit MLP",
                       "whole_restored": patching.set_index(["family", "hook", "position"])[
                           "restored_mean"].get(("residual", after, label)),
                       "rule": "the residual stream after the off-circuit MLP (the paper's resid_post 8)"})
    on = candidates[candidates["whole_restored"] >= thresholds.min_on_whole]
    if len(on):
        site = on.sort_values(["whole_restored", "layer"], ascending=[False, True]).iloc[0]
        chosen.append({**site, "role": "on-circuit",
                       "rule": f"largest whole-component effect (>= {thresholds.min_on_whole:.0%})"})
    negative = candidates[candidates["input_differs"]
                          & (candidates["input_probe"] <= thresholds.max_control_probe)
                          & (candidates["input_restored"].abs() < thresholds.max_control_restored)]
    if len(negative):
        site = negative.sort_values(["input_probe", "layer"]).iloc[0]
        chosen.append({**site, "role": "negative control", "rule": thresholds.control_rule()})
    columns = ["role", "hook", "position", "whole_restored", "input_restored", "input_probe",
               "input_hook", "rule"]
    return pd.DataFrame(chosen, columns=columns)


def restoration(patching: pd.DataFrame, probes: pd.DataFrame, hook: str, position: str,
                final_token: str) -> dict:
    """What patching and probes say about one check's site: for an MLP hidden layer the
    whole output and the input (as for the roles), for a residual stream the stream itself."""
    if hook.endswith("mlp.hook_post"):
        found = mlp_candidates(patching, probes, final_token).set_index(["hook", "position"])
        row = found.loc[(hook, position)]
        return {"whole_restored": row["whole_restored"], "input_restored": row["input_restored"],
                "input_probe": row["input_probe"], "input_hook": row["input_hook"]}
    label = final_token if position == "final token" else position
    restored = patching.set_index(["family", "hook", "position"])["restored_mean"]
    return {"whole_restored": restored.get(("residual", hook, label)), "input_restored": None,
            "input_probe": None, "input_hook": None}


def grid(n_layers: int, kinds: tuple[str, ...] = ("mlp.hook_post", "hook_resid_post"),
         positions: tuple[str, ...] = POSITIONS) -> list[tuple[str, str]]:
    """Every site of the given kinds at the given positions (the full sweep: every MLP
    hidden layer and residual stream at both positions)."""
    hooks = [f"blocks.{layer}.{kind}" for layer in range(n_layers) for kind in kinds]
    return [(hook, position) for hook in hooks for position in positions]
