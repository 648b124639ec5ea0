"""Choose where the illusion check runs (off-circuit MLP, the residual after it,
on-circuit MLP, negative control) from the run's activation patching and sport probes."""

from __future__ import annotations

import json
import logging

import pandas as pd

from factlens.io import write_table
from factlens.organism.world import SUFFIX
from factlens.illusion.sites import choose_sites, grid, restoration

log = logging.getLogger("factlens.illusion.sites")

SWEEPS = {
    "roles": {},
    "grid": {},
    "final-token-mlps": {"kinds": ("mlp.hook_post",), "positions": ("final token",)},
}


def add_arguments(parser) -> None:
    parser.add_argument("--patching", required=True, help="The localisation table (patching.csv).")
    parser.add_argument("--probes", required=True, help="The sport probes (probe_accuracy.csv).")
    parser.add_argument("--sweep", choices=sorted(SWEEPS), default="roles",
                        help="Check only the chosen roles; every MLP and residual stream at both "
                             "positions as well (grid); or every MLP at the final token as well.")
    parser.add_argument("--extra", type=json.loads, default=[],
                        help="More sites to check, as a JSON list of {hook, position} objects.")
    parser.add_argument("--table", required=True, help="The output CSV: one row per check.")


def run(args) -> None:
    patching, probes = pd.read_csv(args.patching), pd.read_csv(args.probes)
    final_token = SUFFIX[-1].strip()
    sites = choose_sites(patching, probes, final_token)
    if sites.empty:
        log.warning("no role could be filled from %s", args.patching)
    checks = [(site["hook"], site["position"]) for site in args.extra]
    if args.sweep != "roles":
        checks += grid(1 + max(int(hook.split(".")[1]) for hook in patching["hook"]), **SWEEPS[args.sweep])
    known = set(zip(sites["hook"], sites["position"]))
    more = pd.DataFrame([{"role": "sweep", "hook": hook, "position": position,
                          **restoration(patching, probes, hook, position, final_token),
                          "rule": "config: directions.sweep / directions.sites"}
                         for hook, position in dict.fromkeys(checks) if (hook, position) not in known])
    table = pd.concat([sites, more], ignore_index=True) if len(more) else sites
    log.info("illusion checks:\n%s", table.to_string(index=False))
    write_table(table, args.table)
