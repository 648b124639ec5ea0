"""Every claim of the replication, in the report's order: each paper's verdict rules
(facts/, sae/, illusion/, attribution/ `claims.py`) applied to one run's archived tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from factlens.attribution.claims import attribution_claims
from factlens.claim import Claim
from factlens.facts.claims import localisation_claims
from factlens.illusion.claims import editing_claim, family_claim, illusion_claim
from factlens.sae.claims import faithfulness_claims, sae_claims

# The report's claims, in its order (report.smk, the seeds' per-seed tables).
CLAIM_KEYS = ("localisation", "probes", "pareto_gated", "pareto_jumprelu", "shrinkage",
              "jumprelu_vs_gated", "jumprelu_vs_topk", "illusion",
              "illusion_families", "rank_one_edit", "attribution", "attribution_jump_term",
              "attribution_exact_step")


def collect_claims(results: Path, final_token: str) -> list[Claim]:
    """Every claim, read from the archived tables under `results`."""
    directions = results / "directions"
    summary, sites = pd.read_csv(directions / "summary.csv"), pd.read_csv(directions / "sites.csv")
    return [
        *localisation_claims(pd.read_csv(results / "localisation" / "patching.csv"),
                             pd.read_csv(results / "localisation" / "probe_accuracy.csv"), final_token),
        *sae_claims(pd.read_csv(results / "saes" / "sweep.csv"),
                    pd.read_csv(results / "saes" / "l0_at_equal_loss_recovered.csv")),
        *faithfulness_claims(pd.read_csv(results / "saes" / "at_equal_l0.csv")),
        illusion_claim(summary, sites),
        family_claim(pd.read_csv(directions / "families.csv")),
        editing_claim(summary),
        *attribution_claims(pd.read_csv(results / "attribution" / "comparison.csv"),
                            pd.read_csv(results / "attribution" / "totals.csv")),
    ]
