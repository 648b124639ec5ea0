"""The SAE stage of the default, one process per SAE vs one process per sweep.

Before issue 21 every SAE was its own workflow job: a Python process that imported
torch and transformers, read the activation store, drew its own batches and trained one
SAE. Now one job trains all coefficients of an architecture at a site in one pass over
the same batches. This script runs three layouts side by side on the same store, with
the same SAEs and steps, two processes at a time (the default's 2 cores), and prints
each layout's wall time, its job time (the processes' times summed: what the stage
costs whatever the scheduling) and the ratios. By default it runs the whole stage (every
SAE site of config/config.yaml, as the workflow does); `--hooks` picks sites:

- before: one process per SAE, with the code of the commit before the change
  (`--before`, exported from git), as the default ran until then;
- per-sae: one process per SAE with today's code (today's step is cheaper: the latents
  that fired come from the training forward pass instead of a second encode);
- per-sweep: one process per architecture's sweep, one pass (today's workflow).

Needs the default run's activation store (`make replicate` or `snakemake --until
cache_activations`).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from common import REPO

STORE = REPO / "work" / "default" / "activations" / "train"


def sweep_commands(config: dict, hook: str, out: Path, steps: int | None, layout: str) -> list[list[str]]:
    """The train-sae commands of the site's sweeps: one per SAE or one per architecture
    (`before`: one per SAE in the command-line form of the code before the change)."""
    site = next(site for site in config["sae"]["sites"] if site["hook"] == hook)
    settings = {**config["sae"]["training"], **site.get("training", {}), "checkpoint_every": 0}
    if steps:
        settings["steps"] = steps
    commands = []
    for arch, coefficients in sorted(site["sweep"].items()):
        options = config["sae"]["architectures"][arch]
        # as the workflow passes them (workflow/rules/common.smk: options, sweep_settings);
        # the code before knew only the JumpReLU options and no sparsity warm-up
        known = ("bandwidth", "threshold_init") + (() if layout == "before" else ("aux_k", "aux_coefficient",
                                                                                 "dead_tokens"))
        extra = {k: v for k, v in options.items() if k in known}
        arch_settings = dict(settings)
        if layout != "before" and "sparsity_warmup_fraction" in options:
            arch_settings["sparsity_warmup_fraction"] = options["sparsity_warmup_fraction"]
        groups = [coefficients] if layout == "per-sweep" else [[c] for c in coefficients]
        for group in groups:
            name = f"{arch}-{'-'.join(map(str, group))}"
            flags = ["--coefficient", str(group[0])] if layout == "before" else ["--coefficients", *map(str, group)]
            commands.append([
                sys.executable, "-m", "factlens", "train-sae", "--settings", json.dumps(arch_settings),
                "--threads", "1", "--device", "cpu", "--store", str(STORE / hook), "--architecture", arch,
                *flags, "--width", str(site["width"] * options.get("width_ratio", 1.0)),
                "--learning-rate", str(options["learning_rate"]), "--options", json.dumps(extra),
                "--hook", hook, "--out", str(out / name), "--log", str(out / f"{name}.csv")])
    return commands


def run_timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return time.perf_counter() - start


def wall_and_job_time(commands: list[list[str]], parallel: int, source: Path | None = None) -> tuple[float, float]:
    """Wall time of running `commands`, `parallel` at a time in the given order (with the
    package from `source`/src when given), and the sum of the processes' own times."""
    env = {**os.environ, **({"PYTHONPATH": str(source / "src")} if source else {})}
    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        job_times = list(pool.map(lambda c: run_timed(c, env), commands))
    return time.perf_counter() - start, sum(job_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", nargs="+", default=None,
                        help="SAE sites to train (default: every site of the config, the whole stage).")
    parser.add_argument("--steps", type=int, default=None, help="Steps per SAE (default: the config's).")
    parser.add_argument("--parallel", type=int, default=2, help="Processes at a time (the cores).")
    parser.add_argument("--layouts", nargs="+", default=["before", "per-sae", "per-sweep"],
                        choices=["before", "per-sae", "per-sweep"])
    parser.add_argument("--before", default="4d49691",
                        help="The commit whose code the 'before' layout runs (the last one-SAE-per-job code).")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    hooks = args.hooks or [site["hook"] for site in config["sae"]["sites"]]
    for hook in hooks:
        if not (STORE / hook / "manifest.json").exists():
            raise SystemExit(f"no activation store at {STORE / hook}: run the default replication first")
    print(f"sites: {', '.join(hooks)}", flush=True)
    times, job_times = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        source = None
        if "before" in args.layouts:
            source = Path(tmp) / "before"
            source.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "src", "workflow"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        for layout in args.layouts:
            commands = [command for hook in hooks
                        for command in sweep_commands(config, hook, Path(tmp) / layout, args.steps, layout)]
            times[layout], job_times[layout] = wall_and_job_time(commands, args.parallel,
                                                                 source if layout == "before" else None)
            print(f"{layout:>9}: {len(commands):2d} processes, {times[layout]:6.1f} s wall "
                  f"({args.parallel} at a time), {job_times[layout]:6.1f} s job time", flush=True)
    for layout in ("before", "per-sae"):
        if layout in times and "per-sweep" in times:
            print(f"per-sweep / {layout}: wall {times['per-sweep'] / times[layout]:.2f}, "
                  f"job time {job_times['per-sweep'] / job_times[layout]:.2f}")


if __name__ == "__main__":
    main()
