"""What every Snakemake call and every job pays before it works: importing the modules the
workflow's parse needs, and each stage's imports, with the code of a commit before issue
22's import changes (`--before`, exported from git) and today's, side by side.

Every `snakemake` call (a run, a dry run, each config test) imports the parse-time modules
once; every job imports its stage once. Both layouts are timed in alternating rounds (a
slow spell of the machine hits both), fastest of the rounds, each in a fresh interpreter.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO

# what the Snakefile and seeds.smk import at parse time, by the path each layout has them at
PARSE = {"before": ["factlens.checkpoint", "factlens.claims", "factlens.seeds", "factlens.organism_checks",
                    "factlens.world"],
         "after": ["factlens.organism.checkpoint", "factlens.pipeline.claims", "factlens.pipeline.seeds",
                   "factlens.pipeline.code", "factlens.organism.checks", "factlens.organism.world"]}
STAGES = ("build_report", "claim_verdicts", "choose_sites", "summarise_directions", "summarise_saes",
          "train_sae", "cache_activations", "check_directions")
STAGE_PACKAGE = {"before": "factlens.stages", "after": "factlens.pipeline.stages"}


def import_time(source: Path, modules: list[str]) -> float:
    """Seconds a fresh interpreter takes to import `modules` from `source`/src."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import " + ", ".join(modules)], check=True,
                   env={**os.environ, "PYTHONPATH": str(source / "src")})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="3e155b5", help="The commit before the import changes.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        sources = {"before": before, "after": REPO}
        cases = {"workflow parse": {layout: PARSE[layout] for layout in sources}}
        cases |= {f"stage {stage}": {layout: [f"{STAGE_PACKAGE[layout]}.{stage}"] for layout in sources}
                  for stage in STAGES}
        print(f"{'imports':<32} {'before':>8} {'after':>8} {'after/before':>13}")
        for case, modules in cases.items():
            best = {layout: float("inf") for layout in sources}
            for _ in range(args.rounds):
                for layout, source in sources.items():
                    best[layout] = min(best[layout], import_time(source, modules[layout]))
            print(f"{case:<32} {best['before']:7.2f}s {best['after']:7.2f}s {best['after'] / best['before']:13.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
