"""The illusion claims of Makelov et al. 2024 (docs/references.md §4), checked on the
sites this run chose from its own localisation (`factlens.illusion.sites`):

- the illusion: at the off-circuit MLP a DAS direction works through the illusion,
  while the negative control (no sport in the input) gives nothing;
- families: the concern is mainly for learned directions, less for neurons or SAE latents;
- editing: the 1-D patch and its equivalent rank-1 edit of W_out succeed together,
  where localisation says the component does not matter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factlens.claim import Claim, percent, with_interval
from factlens.illusion.verdicts import MATCH_TOLERANCE, MAX_NULL_SHARE, MAX_OUTSIDE_RANGE, MAX_ROW_SHARE, MIN_EFFECT
from factlens.illusion.sites import SiteThresholds

# Published (§4, GPT-2 small IOI, MLP8 / resid_post 8): (FLDD, interchange accuracy).
PUBLISHED = {
    ("mlp", "full component", "whole activation"): (-0.08, 0.0),
    ("mlp", "DAS", "v"): (0.467, 0.042),
    ("mlp", "DAS", "v_row"): (0.135, 0.002),
    ("mlp", "DAS", "v_null"): (0.0, np.nan),
    ("resid", "full component", "whole activation"): (1.236, 0.548),
    ("resid", "DAS", "v"): (1.407, 0.748),
}
ROLE_ORDER = ("off-circuit", "residual after the off-circuit MLP", "on-circuit", "negative control")
THRESHOLDS = SiteThresholds()
EDIT_MIN_AGREEMENT = 0.9
SITE_RULE = (f"sites chosen from this run's activation patching and sport probes: off-circuit = "
             f"{THRESHOLDS.off_circuit_rule()}; on-circuit = the MLP whose whole-output patch restores "
             f"most (>= {THRESHOLDS.min_on_whole:.0%}); negative control = {THRESHOLDS.control_rule()}")


def role_row(summary: pd.DataFrame, role: str) -> pd.Series | None:
    """The DAS row of the check that fills `role` (roles may share a check)."""
    found = summary[(summary["direction"] == "DAS") & summary["role"].str.contains(role, regex=False)]
    return found.iloc[0] if len(found) else None


def das_rows(role: str, das: pd.Series) -> list[dict]:
    """Claim-table rows of one role: the whole component, DAS v / v_row / v_null (paper's
    MLP8 or resid_post 8 numbers beside them) and the spread over restarts."""
    kind = "resid" if "resid" in das["hook"] else "mlp"
    paper = PUBLISHED if role in ROLE_ORDER[:2] else {}
    site = f"{das['hook']} ({das['position']})"
    rows = []
    for patch, fldd, interchange, key in (
            ("full component", "fldd_whole", None, ("full component", "whole activation")),
            ("DAS: v", "fldd_v", "interchange_v", ("DAS", "v")),
            ("DAS: v_row", "fldd_v_row", None, ("DAS", "v_row")),
            ("DAS: v_null", "fldd_v_null", None, ("DAS", "v_null"))):
        published = paper.get((kind, *key), (np.nan, np.nan))
        rows.append({"role": role, "site": site, "patch": patch, "FLDD (ours)": with_interval(das, fldd),
                     "interchange (ours)": with_interval(das, interchange),
                     "FLDD (paper)": percent(published[0]),
                     "interchange (paper)": percent(published[1]),
                     "verdict": das["verdict"] if patch == "DAS: v" else ""})
    if not pd.isna(das.get("restarts", np.nan)):
        rows.append({"role": role, "site": site, "patch": f"DAS v over {int(das['restarts'])} restarts",
                     "FLDD (ours)": f"{percent(das['fldd_v_mean'])} ± {percent(das['fldd_v_sd'])}",
                     "interchange (ours)": "", "FLDD (paper)": "-", "interchange (paper)": "-",
                     "verdict": das["restart_verdicts"]})
    return rows


def illusion_claim(summary: pd.DataFrame, sites: pd.DataFrame) -> Claim:
    """Replicated if the off-circuit MLP's DAS direction is illusory and the negative
    control's DAS direction has no effect (otherwise the check itself is suspect)."""
    found = {role: role_row(summary, role) for role in ROLE_ORDER}
    rows = [row for role, das in found.items() if das is not None for row in das_rows(role, das)]
    off, negative = found["off-circuit"], found["negative control"]
    control_ok = negative is not None and negative["verdict"] == "no effect"
    replicated = bool(off is not None and off["verdict"] == "illusory" and control_ok)
    if off is None:
        parts = ("No MLP of this model qualifies as off-circuit with a sport-carrying input, so the "
                 "paper's test cannot be made here. ")
    else:
        parts = (f"At the off-circuit MLP {off['hook']} ({off['position']}; whole-output patch "
                 f"{percent(off['fldd_whole'])}), patching along the DAS direction gives FLDD "
                 f"{percent(off['fldd_v'])} (interchange {percent(off['interchange_v'])}), v_row alone "
                 f"{percent(off['fldd_v_row'])}, v_null alone {percent(off['fldd_v_null'])}: "
                 f"**{off['verdict']}** (paper, IOI MLP8: whole -8%, v 46.7%, v_row 13.5%, v_null 0%). ")
    for role in ("on-circuit", "negative control"):
        das = found[role]
        if das is not None:
            parts += (f"{role.capitalize()} ({das['hook']}, {das['position']}): whole "
                      f"{percent(das['fldd_whole'])}, DAS {percent(das['fldd_v'])}, {das['verdict']}. ")
    if not control_ok:
        parts += "The negative control did not pass, so no verdict of illusion can be trusted. "
    others = summary[(summary["direction"] == "DAS") & (summary["role"] == "sweep")]
    if len(others):
        illusory = others[others["verdict"] == "illusory"]
        parts += (f"Of the {len(others)} other sites of the sweep, the DAS direction is illusory at "
                  + (", ".join(f"{r.hook} ({r.position})" for r in illusory.itertuples()) or "none")
                  + " (directions/summary.csv). ")
    conclusion = ("As published." if replicated else "So the illusion does not replicate here."
                  if off is not None else "")
    return Claim(
        key="illusion",
        title="At an off-circuit MLP a DAS direction works through the illusion",
        source="Makelov et al. 2024 (docs/references.md §4)",
        table=pd.DataFrame(rows),
        replicated=replicated,
        summary=(parts + conclusion).strip(),
        testable=off is not None,
        # the line that decides at the chosen site: v_row's share of the DAS direction's effect
        metric="v_row alone as a share of the off-circuit DAS direction's FLDD",
        value=float(off["fldd_v_row"] / off["fldd_v"]) if off is not None and off["fldd_v"] > 0 else np.nan,
        line=MAX_ROW_SHARE, passes="below",
        rule=(f"{SITE_RULE}. A direction is illusory when FLDD(v) >= {MIN_EFFECT:.0%}, v_row alone < "
              f"{MAX_ROW_SHARE:.0%} of it, |v_null alone| < {MAX_NULL_SHARE:.0%} of it (0 by construction "
              f"at mlp.hook_post, where W_out is the only reader), and at least one red flag: v_row dormant "
              f"(v_null separates the sports >= 2x better), >= {MAX_OUTSIDE_RANGE:.0%} of patches outside "
              f"v_row's natural range, or the 1-D patch within {MATCH_TOLERANCE:.0%} of (or beyond) the "
              f"whole component. Replicated if the off-circuit DAS direction is illusory and the negative "
              f"control's has no effect; every number is on held-out athletes"),
        figures=["directions/sweep.png",
                 *[f"directions/{r['hook']}/{r['position'].replace(' ', '_')}/illusion.png"
                   for _, r in sites.drop_duplicates(["hook", "position"]).iterrows()
                   if r["role"] != "sweep"]],
    )


def family_claim(rates: pd.DataFrame) -> Claim:
    """Replicated if learned (DAS) directions are illusory more often than neurons and
    SAE latents (those measured)."""
    by_family = rates.set_index("direction")
    das = by_family["illusory fraction"].get("DAS", np.nan)
    units = [family for family in ("best neuron", "best SAE latent") if family in by_family.index]
    replicated = bool(units) and all(das > by_family.loc[f, "illusory fraction"] for f in units)
    any_illusion = bool(by_family["illusory"].sum() > 0)
    table = rates.assign(**{"illusory fraction": rates["illusory fraction"].map(percent),
                            "illusory fraction of effective":
                                rates["illusory fraction of effective"].map(percent)})
    return Claim(
        key="illusion_families",
        title="The illusion concerns learned directions more than neurons or SAE latents",
        source="Makelov et al. 2024 (docs/references.md §4)",
        table=table,
        replicated=replicated,
        summary=(f"Of {int(by_family['checks'].max())} site-position checks, DAS directions were illusory in "
                 f"{percent(das)}; " + ", ".join(f"{f} {percent(by_family.loc[f, 'illusory fraction'])}"
                                                  for f in by_family.index if f != "DAS")
                 + (". As the paper expects." if replicated else ". Not the paper's ordering."
                    if any_illusion else ". With no illusory direction of any family, the ordering "
                    "cannot be measured on these sites.")),
        metric="illusory fraction of DAS directions",
        value=float(das),
        rule=("replicated if DAS's illusory fraction exceeds that of the best neuron and the best SAE "
              "latent; not testable if no direction of any family is illusory"),
        testable=any_illusion,
        figures=["directions/sweep.png"],
    )


def editing_claim(summary: pd.DataFrame) -> Claim:
    """At MLP sites: the rank-1 W_out edit equivalent to the DAS patch succeeds where the
    patch does (agreement), including off-circuit, where localisation says nothing is there."""
    mlp = summary[(summary["direction"] == "DAS") & summary["hook"].str.contains("mlp")]
    rows = [{"site": f"{r.hook} ({r.position})", "role": r.role,
             "whole-component patch": percent(r.fldd_whole), "1-D patch": percent(r.fldd_v),
             "rank-1 edit": percent(r.fldd_edit), "edit/patch agree": percent(r.edit_patch_agreement)}
            for r in mlp.itertuples()]
    off = role_row(summary, "off-circuit")
    replicated = bool(off is not None and off["fldd_v"] >= MIN_EFFECT and off["fldd_edit"] >= MIN_EFFECT
                      and off["edit_patch_agreement"] >= EDIT_MIN_AGREEMENT
                      and off["fldd_whole"] < THRESHOLDS.max_whole)
    agreement = (f"Over the {len(mlp)} MLP checks, edit and patch agree on "
                 f"{percent(mlp['edit_patch_agreement'].min())}-{percent(mlp['edit_patch_agreement'].max())} "
                 "of pairs (the equivalence). " if len(mlp) else "")
    summary_text = agreement + ("No off-circuit MLP was found, so whether edits succeed where "
                                "localisation disagrees cannot be tested here." if off is None else
                    f"At the off-circuit MLP the DAS patch gives {percent(off['fldd_v'])} and its rank-1 "
                    f"edit {percent(off['fldd_edit'])}, agreeing on {percent(off['edit_patch_agreement'])} "
                    f"of pairs, while patching the whole component gives {percent(off['fldd_whole'])}.")
    return Claim(
        key="rank_one_edit",
        title="A rank-1 edit of W_out succeeds where the 1-D patch does, not where localisation points",
        source="Makelov et al. 2024, fact editing (docs/references.md §4)",
        table=pd.DataFrame(rows),
        replicated=replicated,
        summary=summary_text + ("" if off is None else
                                " Edit and patch succeed together where localisation disagrees, as published."
                                if replicated else " This does not show the published pattern."),
        testable=off is not None,
        metric="edit/patch agreement at the off-circuit MLP",
        value=float(off["edit_patch_agreement"]) if off is not None else np.nan,
        line=EDIT_MIN_AGREEMENT, passes="above",
        rule=(f"replicated if at the off-circuit MLP both the DAS patch and its rank-1 edit reach FLDD >= "
              f"{MIN_EFFECT:.0%}, agree on >= {EDIT_MIN_AGREEMENT:.0%} of pairs, and the whole-component "
              f"patch stays < {THRESHOLDS.max_whole:.0%}"),
        figures=[],
    )
