"""The organism over seeds: the targets counted over seeds, and how the illusion verdict
moves when the whole-component line or the v_row-share line moves by half."""

import pandas as pd

from factlens.pipeline.organism_seeds import sensitivity, targets_met
from test_sites import SEQUENTIAL, SEQUENTIAL_PROBES


def das_summary(v: float, v_row: float, flags: bool = True) -> pd.DataFrame:
    return pd.DataFrame([{"hook": "blocks.2.mlp.hook_post", "position": "final token", "direction": "DAS",
                          "fldd_v": v, "fldd_v_row": v_row, "fldd_v_null": 0.0, "verdict": "illusory",
                          "v_row dormant": False, "outside natural range": flags,
                          "1-D matches whole": flags}])


def test_the_verdict_under_moved_lines():
    """MLP2 at the final token: whole 5%, DAS 60%, v_row 20% (a third of DAS's effect)."""
    moved = sensitivity(SEQUENTIAL, SEQUENTIAL_PROBES, das_summary(0.6, 0.2)).set_index(
        ["whole_line", "row_share_line"])
    # the whole-component line at half (5%) leaves no off-circuit MLP: MLP2's 5% is not below it
    assert set(moved.loc[0.05, "verdict"]) == {"not testable"}
    for whole in (0.1, 0.15):
        assert moved.loc[(whole, 0.25), "verdict"] == "not illusory"  # v_row's third is above 25%
        assert moved.loc[(whole, 0.5), "verdict"] == "illusory"
        assert moved.loc[(whole, 0.75), "verdict"] == "illusory"
        assert moved.loc[(whole, 0.5), "site"] == "blocks.2.mlp.hook_post"
    # no red flag: never illusory, whatever the lines
    calm = sensitivity(SEQUENTIAL, SEQUENTIAL_PROBES, das_summary(0.6, 0.2, flags=False))
    assert "illusory" not in set(calm["verdict"])


def test_targets_are_counted_over_seeds():
    seeds = pd.DataFrame({"fact_accuracy": [0.99, 0.97, 0.94, 1.0, 0.96],
                          "heldout_mean": [0.9, 0.85, 0.7, 0.95, 0.82], "heldout_min": [0.6, 0.5, 0.45, 0.9, 0.41],
                          "name_margin": [0.6, 0.5, 0.45, 0.65, 0.41],
                          "localisation": ["yes", "yes", "no", "yes", "yes"],
                          "off_circuit": ["blocks.5.mlp.hook_post (final token)", "-", "-", "x", "y"]})
    targets = targets_met(seeds).set_index("target")
    assert targets.loc["Fact-prompt accuracy >= 95%", ["seeds meeting it", "met"]].tolist() == ["4 of 5", "no"]
    assert targets.loc["held-out template mean >= 80%", "met"] == "yes"  # 4 of 5 suffice
    assert targets.loc["localisation: gather, MLP lookup, move", "seeds meeting it"] == "4 of 5"
    off = targets.loc["an off-circuit MLP at the final token reads the sport"]
    assert off["seeds meeting it"] == "3 of 5" and off["needed"] == "4 of 5" and off["met"] == "no"
