"""Fact finding's claims (docs/references.md §1): gather, look up, move; and how well
linear probes read the sport at the final name token."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factlens.blocks import mlp_input, parallel_from_hooks
from factlens.claim import Claim, percent, with_interval

# Published numbers and statements (docs/references.md §1).
PUBLISHED = {
    "probe_accuracy": 0.90,  # ~90% at Pythia-2.8B layer 6
    "lookup": "MLPs of layers 2-6 (early-to-middle) at the final name token",
    "gather": "attention layers 0-1 gather the name's tokens",
    "move": "later attention heads move the sport to the final token",
}

# Thresholds of the verdict rules (stated in the report beside each verdict).
LOOKUP_MIN_RESTORED = 0.25
PROBE_TOLERANCE = 0.10


def layer_of(hook: str) -> int:
    return int(hook.split(".")[1])


def localisation_claims(patching: pd.DataFrame, probes: pd.DataFrame, final_token: str) -> list[Claim]:
    """Fact finding (docs/references.md §1): gather, look up, move; and
    how well linear probes read the sport at the final name token."""
    components = patching[patching["family"] == "component"]
    at_name = components[components["position"] == "final name token"].set_index("hook")["restored_mean"]
    at_final = components[components["position"] == final_token].set_index("hook")["restored_mean"]
    swap = patching[patching["family"] == "first-name swap"].set_index("hook")["restored_mean"]
    parallel = parallel_from_hooks(patching.loc[patching["family"] == "residual", "hook"])
    top = at_name.idxmax()
    n_layers = len({layer_of(hook) for hook in at_name.index})
    mlps = at_name[[h for h in at_name.index if "mlp" in h]]
    attention_final = at_final[[h for h in at_final.index if "attn" in h]]
    # An MLP can look a multi-token name up only if it reads an attention output: in a
    # parallel block MLP0 sees only the current token's embedding, in a sequential block
    # MLP L reads attention L.
    first_reader = 1 if parallel else 0
    lookup_ok = ("mlp" in top and first_reader <= layer_of(top) < max(2, n_layers - 1)
                 and at_name[top] >= LOOKUP_MIN_RESTORED)
    reading_mlps = mlps[[h for h in mlps.index if layer_of(h) >= first_reader]]
    best_mlp = reading_mlps.idxmax() if len(reading_mlps) else None
    swap_attention = swap[[h for h in swap.index if "attn" in h]]
    # the gather must happen before the lookup MLP reads (any layer when there is none):
    # below it in a parallel block, up to its own layer in a sequential one
    gather = swap_attention[[h for h in swap_attention.index
                             if best_mlp is None or layer_of(h) < layer_of(best_mlp) + (not parallel)]]
    gather_ok = len(gather) > 0 and gather.max() >= LOOKUP_MIN_RESTORED
    best_gather = gather.idxmax() if len(gather) else None
    # the move: attention above the lookup carries the sport to the final token
    move = attention_final[[h for h in attention_final.index
                            if best_mlp is None or layer_of(h) > layer_of(best_mlp)]]
    move_ok = len(move) > 0 and move.max() >= LOOKUP_MIN_RESTORED
    best_move = move.idxmax() if len(move) else None
    probe_at_name = (probes[probes["selected"] & (probes["position"] == "final name token")]
                     .set_index("hook")["test_accuracy"])
    lookup_probes = ("-" if best_mlp is None else
                     f"{percent(probe_at_name.get(mlp_input(layer_of(best_mlp), parallel), np.nan))} before "
                     f"MLP{layer_of(best_mlp)}, "
                     f"{percent(probe_at_name.get(f'blocks.{layer_of(best_mlp)}.hook_resid_post', np.nan))} after it")
    lookup = Claim(
        key="localisation",
        title="Fact finding: attention gathers the name, an early MLP looks the sport up at the final name token",
        source="Nanda et al. 2023 (docs/references.md §1)",
        table=pd.DataFrame([
            {"measure": "component restoring most at the final name token",
             "ours": f"{top} ({percent(at_name[top])})", "paper": PUBLISHED["lookup"]},
            {"measure": "MLP outputs at the final name token, by layer",
             "ours": ", ".join(f"L{layer_of(h)} {percent(v)}" for h, v in mlps.items()), "paper": "-"},
            {"measure": "only the first name differs: attention outputs at the final name token, by layer",
             "ours": ", ".join(f"L{layer_of(h)} {percent(v)}" for h, v in swap_attention.items()),
             "paper": PUBLISHED["gather"]},
            {"measure": "held-out sport probe at the final name token around the strongest reading MLP",
             "ours": lookup_probes, "paper": "~90% by layer 6 of 32"},
            {"measure": "only the first name differs: the strongest MLP that reads attention, at the final name token",
             "ours": f"{best_mlp} ({percent(swap.get(best_mlp, np.nan))})" if best_mlp else "-",
             "paper": "-"},
            {"measure": f"attention outputs at the final token ('{final_token}'), by layer",
             "ours": ", ".join(f"L{layer_of(h)} {percent(v)}" for h, v in attention_final.items()),
             "paper": PUBLISHED["move"]},
        ]),
        replicated=bool(lookup_ok and gather_ok and move_ok),
        metric="share restored by the strongest MLP that reads attention, at the final name token",
        value=float(at_name[best_mlp]) if best_mlp else np.nan,
        line=LOOKUP_MIN_RESTORED, passes="above",
        summary=(f"At the final name token the component that restores most is {top} "
                 f"({percent(at_name[top])} of the logit difference)"
                 + (f"; the strongest MLP that reads the gathered name ({'layer >= 1 of a parallel block' if parallel else 'any layer of a sequential block'}) is {best_mlp} "
                    f"({percent(at_name[best_mlp])})" if best_mlp and best_mlp != top else "")
                 + (f". When only the first name differs, {best_gather} carries "
                    f"{percent(gather.max())} of it to the final name token" if best_gather else "")
                 + (f"; {best_move} restores {percent(move.max())} at the final token" if best_move else "")
                 + (": attention gathers the name, an MLP looks the sport up and attention moves it, as "
                    "the paper describes." if lookup_ok and gather_ok and move_ok else
                    ". This is not the paper's gather-then-MLP-lookup picture.")),
        rule=(f"replicated if the component that restores most at the final name token is an MLP that "
              f"reads an attention output (layer >= 1 in a parallel block, where MLP0 sees one token; "
              f"any layer in a sequential block) in the early-to-middle layers (below the last two), "
              f"restoring >= {percent(LOOKUP_MIN_RESTORED)}; with pairs that differ only in the first "
              f"name, an attention layer that the MLP reads restores >= {percent(LOOKUP_MIN_RESTORED)} at "
              f"the final name token (it carries the first name there); and an attention layer above "
              f"the MLP restores >= {percent(LOOKUP_MIN_RESTORED)} at the final token (the move)"),
        figures=["localisation/patching.png"],
    )
    selected = probes[probes["selected"]]
    at_name_probes = selected[selected["position"] == "final name token"]
    best = at_name_probes.loc[at_name_probes["test_accuracy"].idxmax()]
    control = selected[selected["position"] == "final token"]["test_accuracy"].max()
    probe_ok = best["test_accuracy"] >= PUBLISHED["probe_accuracy"] - PROBE_TOLERANCE
    probe = Claim(
        key="probes",
        title="Fact finding: linear probes read the sport at the final name token",
        source="Nanda et al. 2023 (docs/references.md §1)",
        table=pd.DataFrame([
            {"measure": "best held-out probe accuracy at the final name token (3-way; 95% interval "
                        "over held-out athletes)",
             "ours": f"{with_interval(best, 'test_accuracy')} at {best['site']} (C = {best['regularisation']:g})",
             "paper": f"~{percent(PUBLISHED['probe_accuracy'])} at layer 6 of 32"},
            {"measure": "train accuracy there", "ours": percent(best["train_accuracy"]), "paper": "-"},
            {"measure": "positive control: best held-out accuracy at the final token",
             "ours": percent(control), "paper": "-"},
            {"measure": "athletes (train / held-out; no name part on both sides)",
             "ours": f"{int(best['train_athletes'])} / {int(best['test_athletes'])}", "paper": "-"},
        ]),
        replicated=bool(probe_ok),
        metric="best held-out probe accuracy at the final name token",
        value=float(best["test_accuracy"]),
        line=PUBLISHED["probe_accuracy"] - PROBE_TOLERANCE, passes="above",
        summary=(f"Held-out probe accuracy at the final name token peaks at {percent(best['test_accuracy'])} "
                 f"at {best['site']} (final token: {percent(control)}), "
                 + ("close to the paper's ~90%." if probe_ok else "well below the paper's ~90%.")),
        rule=(f"replicated if the best held-out accuracy at the final name token, with C chosen by "
              f"cross-validation on the training athletes, is within {percent(PROBE_TOLERANCE)} of 90%"),
        figures=["localisation/probe_accuracy.png"],
    )
    return [lookup, probe]

