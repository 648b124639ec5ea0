"""Checks of an organism config that the schema cannot express, run by the Snakefile
before any rule: every hook the config names must exist in the organism it trains."""

from __future__ import annotations

import re


def named_hooks(config: dict) -> list[tuple[str, str]]:
    """(key, hook) for every hook the config names."""
    hooks = [(f"sae.sites[{i}].hook", site["hook"]) for i, site in enumerate(config["sae"]["sites"])]
    hooks += [(f"directions.sites[{i}].hook", site["hook"])
              for i, site in enumerate(config["directions"]["sites"])]
    hooks += [(f"attribution.{end}.hook", config["attribution"][end]["hook"])
              for end in ("upstream", "downstream")]
    return hooks


def check_organism_hooks(config: dict) -> None:
    """Refuse a depth or block type the rest of the config cannot be analysed with: a hook
    in a layer the organism does not have, or `hook_resid_mid` (the residual between
    attention and MLP) in parallel blocks, which have no such point."""
    organism = config["model"]["organism"]
    problems = []
    for key, hook in named_hooks(config):
        found = re.match(r"blocks\.(\d+)\.", hook)
        if found and int(found.group(1)) >= organism["n_layers"]:
            problems.append(f"{key} = {hook} names layer {found.group(1)}, but model.organism.n_layers = "
                            f"{organism['n_layers']} (layers 0-{organism['n_layers'] - 1})")
        if hook.endswith("hook_resid_mid") and organism["parallel_residual"]:
            problems.append(f"{key} = {hook}: a parallel block (model.organism.parallel_residual = true) "
                            "has no residual between its attention and its MLP")
    if problems:
        raise ValueError("the organism cannot be analysed as configured: " + "; ".join(problems))
