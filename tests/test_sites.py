"""The illusion sites are chosen by rule from the run's patching table, and the checks
are summarised per site and direction family."""

import numpy as np
import pandas as pd
import pytest

from factlens.illusion.verdicts import family_rates, summarise_checks
from factlens.illusion.sites import SiteThresholds, choose_sites, grid, mlp_candidates


def patching_table(mlp_whole: dict, residual: dict) -> pd.DataFrame:
    """A 3-layer patching table: MLP outputs and the residual stream at both positions.
    A residual entry is a fraction restored, or (mean, sem) to give its spread."""
    rows = [{"family": "component", "hook": f"blocks.{layer}.hook_mlp_out", "position": position,
             "restored_mean": value, "restored_sem": 0.01} for (layer, position), value in mlp_whole.items()]
    rows += [{"family": "residual", "hook": hook, "position": position,
              "restored_mean": value[0] if isinstance(value, tuple) else value,
              "restored_sem": value[1] if isinstance(value, tuple) else 0.01}
             for (hook, position), value in residual.items()]
    return pd.DataFrame(rows)


def probe_table(accuracy: dict) -> pd.DataFrame:
    """Held-out probe accuracy per (hook, position), each the selected C."""
    return pd.DataFrame([{"hook": hook, "position": position, "test_accuracy": value, "selected": True}
                         for (hook, position), value in accuracy.items()])


NAME, FINAL, LAST = "final name token", "of", "final token"
MLP_WHOLE = {(0, NAME): 0.30, (1, NAME): 0.02, (2, NAME): 0.0, (0, FINAL): 0.0, (1, FINAL): 0.01,
             (2, FINAL): 0.05}
# parallel blocks: MLP L reads resid_pre L (= resid_post L-1)
TABLE = patching_table(MLP_WHOLE, {
    ("blocks.0.hook_resid_pre", NAME): 0.2, ("blocks.0.hook_resid_post", NAME): 0.6,
    ("blocks.1.hook_resid_post", NAME): 0.7, ("blocks.2.hook_resid_post", NAME): 0.0,
    # MLP0 of a parallel block reads only the final token itself: identical in both prompts
    ("blocks.0.hook_resid_pre", FINAL): (0.0, 0.0), ("blocks.0.hook_resid_post", FINAL): 0.01,
    ("blocks.1.hook_resid_post", FINAL): 0.4, ("blocks.2.hook_resid_post", FINAL): 1.0})
PROBES = probe_table({
    ("blocks.0.hook_resid_pre", NAME): 0.35, ("blocks.0.hook_resid_post", NAME): 0.9,
    ("blocks.1.hook_resid_post", NAME): 0.95, ("blocks.2.hook_resid_post", NAME): 0.95,
    ("blocks.0.hook_resid_pre", LAST): 0.33, ("blocks.0.hook_resid_post", LAST): 0.40,
    ("blocks.1.hook_resid_post", LAST): 0.9, ("blocks.2.hook_resid_post", LAST): 0.97})
# sequential blocks: MLP L reads resid_mid L
SEQUENTIAL = patching_table(MLP_WHOLE, {
    ("blocks.0.hook_resid_pre", FINAL): (0.0, 0.0), ("blocks.0.hook_resid_mid", FINAL): 0.02,
    ("blocks.1.hook_resid_mid", FINAL): 0.5, ("blocks.2.hook_resid_mid", FINAL): 0.9,
    ("blocks.0.hook_resid_mid", NAME): 0.5, ("blocks.1.hook_resid_mid", NAME): 0.6,
    ("blocks.2.hook_resid_mid", NAME): 0.7})
SEQUENTIAL_PROBES = probe_table({
    ("blocks.0.hook_resid_mid", LAST): 0.36, ("blocks.1.hook_resid_mid", LAST): 0.5,
    ("blocks.2.hook_resid_mid", LAST): 0.95, ("blocks.0.hook_resid_mid", NAME): 0.6,
    ("blocks.1.hook_resid_mid", NAME): 0.9, ("blocks.2.hook_resid_mid", NAME): 0.9})


def test_candidates_read_each_mlp_and_its_input():
    candidates = mlp_candidates(TABLE, PROBES, FINAL).set_index(["hook", "position"])
    mlp1 = candidates.loc[("blocks.1.mlp.hook_post", "final name token")]
    assert mlp1["whole_restored"] == 0.02 and mlp1["input_restored"] == 0.6  # resid_post 0 = resid_pre 1
    assert mlp1["input_hook"] == "blocks.0.hook_resid_post" and mlp1["input_probe"] == 0.9
    mlp0 = candidates.loc[("blocks.0.mlp.hook_post", "final token")]
    assert mlp0["input_restored"] == 0.0 and not mlp0["input_differs"]
    assert mlp0["input_probe"] == 0.33
    # the last MLP at the name cannot reach the answer; at the final token it can
    assert not candidates.loc[("blocks.2.mlp.hook_post", "final name token"), "readable"]
    assert candidates.loc[("blocks.2.mlp.hook_post", "final token"), "readable"]


def test_a_sequential_block_reads_the_residual_after_its_attention():
    candidates = mlp_candidates(SEQUENTIAL, SEQUENTIAL_PROBES, FINAL).set_index(["hook", "position"])
    mlp2 = candidates.loc[("blocks.2.mlp.hook_post", "final token")]
    assert mlp2["input_hook"] == "blocks.2.hook_resid_mid"
    assert mlp2["input_restored"] == 0.9 and mlp2["input_probe"] == 0.95
    assert candidates.loc[("blocks.0.mlp.hook_post", "final token"), "input_differs"]


def test_roles_follow_the_rule():
    sites = choose_sites(SEQUENTIAL, SEQUENTIAL_PROBES, FINAL).set_index("role")
    # MLP2 at the final token: whole 5%, input probe 95%, input restores 90%
    assert tuple(sites.loc["off-circuit", ["hook", "position"]]) == ("blocks.2.mlp.hook_post", LAST)
    assert tuple(sites.loc["residual after the off-circuit MLP", ["hook", "position"]]) == \
        ("blocks.2.hook_resid_post", LAST)
    assert tuple(sites.loc["on-circuit", ["hook", "position"]]) == ("blocks.0.mlp.hook_post", NAME)
    # MLP0 at the final token reads attention 0 (its input differs within pairs) and no sport
    assert tuple(sites.loc["negative control", ["hook", "position"]]) == ("blocks.0.mlp.hook_post", LAST)


def test_an_input_that_restores_without_a_linear_sport_is_not_off_circuit():
    """MLP1 at the final token restores 50% through its input, but a probe reads the sport
    there at 50%: the residual carries the athlete, not the sport."""
    no_sport = SEQUENTIAL_PROBES.assign(test_accuracy=np.where(
        SEQUENTIAL_PROBES["hook"] == "blocks.2.hook_resid_mid", 0.5, SEQUENTIAL_PROBES["test_accuracy"]))
    assert "off-circuit" not in set(choose_sites(SEQUENTIAL, no_sport, FINAL)["role"])
    loose = SiteThresholds(min_input_probe=0.4)
    assert choose_sites(SEQUENTIAL, no_sport, FINAL, loose).set_index("role").loc[
        "off-circuit", "hook"] == "blocks.2.mlp.hook_post"


def test_a_control_whose_input_is_identical_in_both_prompts_is_never_chosen():
    """MLP0 of a parallel block at the final token reads one token, the same in both
    prompts: it gives 0 by construction. The control is the lowest probe among the rest."""
    sites = choose_sites(TABLE, PROBES, FINAL).set_index("role")
    assert tuple(sites.loc["negative control", ["hook", "position"]]) == ("blocks.1.mlp.hook_post", LAST) \
        or "negative control" not in sites.index
    identical = TABLE.assign(restored_sem=0.0, restored_mean=np.where(
        TABLE["family"] == "residual", 0.0, TABLE["restored_mean"]))
    assert "negative control" not in set(choose_sites(identical, PROBES, FINAL)["role"])


def test_no_off_circuit_role_when_no_input_carries_the_sport():
    quiet = SEQUENTIAL.assign(restored_mean=np.where(SEQUENTIAL["family"] == "residual", 0.01,
                                                     SEQUENTIAL["restored_mean"]))
    assert "off-circuit" not in set(choose_sites(quiet, SEQUENTIAL_PROBES, FINAL)["role"])


def test_grid_covers_every_mlp_and_residual_at_both_positions():
    points = grid(3)
    assert len(points) == 12 and len(set(points)) == 12
    assert ("blocks.2.hook_resid_post", "final token") in points
    assert grid(3, kinds=("mlp.hook_post",), positions=("final token",)) == [
        (f"blocks.{layer}.mlp.hook_post", "final token") for layer in range(3)]


def check_table(hook: str, position: str, whole: float, das_v: float, das_row: float) -> pd.DataFrame:
    rows = [{"direction": "full component", "variant": "whole activation", "fldd": whole}]
    for direction, (v, v_row, verdict) in {
            "DAS": (das_v, das_row, "illusory"), "DAS restart 0": (das_v, das_row, "illusory"),
            "DAS restart 1": (das_v - 0.2, das_row, "no effect"),
            "best neuron": (0.0, 0.0, "no effect")}.items():
        for variant, fldd in (("v", v), ("v_row", v_row), ("v_null", 0.0)):
            rows.append({"direction": direction, "variant": variant, "fldd": fldd, "verdict": verdict,
                         "interchange_accuracy": 0.1, "v_row dormant": True,
                         "outside natural range": False, "1-D matches whole": True})
    return pd.DataFrame(rows).assign(hook=hook, position=position)


def test_summary_and_family_rates():
    tables = [check_table("blocks.1.mlp.hook_post", NAME, 0.02, 0.4, 0.1),
              check_table("blocks.0.mlp.hook_post", "final token", 0.0, 0.3, 0.3)]
    sites = pd.DataFrame({"role": ["off-circuit", "negative control"],
                          "hook": ["blocks.1.mlp.hook_post", "blocks.0.mlp.hook_post"],
                          "position": [NAME, "final token"]})
    summary = summarise_checks(tables, sites).set_index(["hook", "direction"])
    das = summary.loc[("blocks.1.mlp.hook_post", "DAS")]
    assert das["role"] == "off-circuit" and das["v_row_share"] == pytest.approx(0.25)
    assert das["restarts"] == 2 and das["fldd_v_mean"] == pytest.approx(0.3)
    assert das["restart_verdicts"] == "illusory, no effect"
    assert np.isnan(das["fldd_edit"])  # no edit rows in these tables
    rates = family_rates(summary.reset_index()).set_index("direction")
    assert rates.loc["DAS", "illusory fraction"] == 1.0 and rates.loc["DAS", "checks"] == 2
    assert rates.loc["best neuron", "illusory fraction"] == 0.0
    assert np.isnan(rates.loc["best neuron", "illusory fraction of effective"])


def test_restoration_of_any_check():
    from factlens.illusion.sites import restoration

    assert restoration(SEQUENTIAL, SEQUENTIAL_PROBES, "blocks.1.mlp.hook_post", LAST, FINAL) == {
        "whole_restored": 0.01, "input_restored": 0.5, "input_probe": 0.5,
        "input_hook": "blocks.1.hook_resid_mid"}
    assert restoration(TABLE, PROBES, "blocks.2.hook_resid_post", "final token", FINAL) == {
        "whole_restored": 1.0, "input_restored": None, "input_probe": None, "input_hook": None}


def test_no_on_circuit_role_when_no_mlp_matters():
    """An MLP restoring nothing is not "on-circuit" (the smoke organism's case)."""
    quiet = TABLE.assign(restored_mean=np.where(TABLE["hook"].str.contains("mlp_out"), 0.0,
                                                TABLE["restored_mean"]))
    assert "on-circuit" not in set(choose_sites(quiet, PROBES, FINAL)["role"])


def test_one_check_filling_two_roles_is_summarised_once():
    table = check_table("blocks.0.mlp.hook_post", "final token", 0.0, 0.0, 0.0)
    sites = pd.DataFrame({"role": ["on-circuit", "negative control"], "hook": "blocks.0.mlp.hook_post",
                          "position": "final token"})
    summary = summarise_checks([table, table], sites)
    assert len(summary) == 2  # DAS and best neuron, once each
    assert set(summary["role"]) == {"on-circuit, negative control"}
