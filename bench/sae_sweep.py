"""The SAE stage of the default, one process per SAE vs one process per sweep.

Before issue 21 every SAE was its own workflow job: a Python process that imported
torch and transformers, read the activation store, drew its own batches and trained one
SAE. Now one job trains all coefficients of an architecture at a site in one pass over
the same batches. This script runs three layouts side by side on the same store, with
the same SAEs and steps, two processes at a time (the default's 2 cores), and prints
each layout's wall time, its job time (the processes' times summed: what the stage
costs whatever the scheduling), its CPU time (user + system: without the time other
tenants of a shared machine take) and the ratios. By default it runs the whole stage
(every SAE site of config/config.yaml, as the workflow does); `--hooks` picks sites. It
runs site by site, the layouts back to back in alternating order, so that a drift in the
machine's speed falls on every layout alike (two runs that timed each layout as a whole
gave 0.49 and 0.58 on one day); a layout's stage wall time is the sum of its sites'.

- before: one process per SAE, with the code of the commit before the change
  (`--before`, exported from git), as the default ran until then;
- per-sae: one process per SAE with today's code (today's step is cheaper: the latents
  that fired come from the training forward pass instead of a second encode);
- per-sweep: one process per architecture's sweep, one pass (today's workflow);
- per-sweep-bf16 (only when asked for with `--layouts`): the same under
  `sae.training.autocast: bfloat16` (JumpReLU's sweeps train in float32 whatever it says:
  their bandwidth is finer than bf16 resolves). It changes the SAEs, so it also prints how far
  each SAE's final L0 and reconstruction loss (from the training logs) moved from
  per-sweep's.

It also prints the stage's matmul floor: the time of the necessary batch-sized matmuls of
every SAE's steps (`sae_step.matmuls_only` at each sweep's shape, one thread, best of 10),
what the stage would cost if every other op and each process's start were free, as a
fraction of the before layout's job time.

Needs the default run's activation store (`make replicate` or `snakemake --until
cache_activations`).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from common import REPO, best_time

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
        if layout == "per-sweep-bf16":
            arch_settings["autocast"] = "bfloat16"
        if layout != "before" and "sparsity_warmup_fraction" in options:
            arch_settings["sparsity_warmup_fraction"] = options["sparsity_warmup_fraction"]
        groups = [[c] for c in coefficients] if layout in ("before", "per-sae") else [coefficients]
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


def matmul_floor(config: dict, hook: str, steps: int | None) -> float:
    """Seconds of the necessary batch-sized matmuls of every SAE step at the site, one
    thread (TopK with its sparse decoder: only the encoder's two)."""
    import torch
    from sae_step import matmuls_only
    from factlens.sae.topk import SPARSE_DECODE_RATIO
    torch.set_num_threads(1)
    site = next(site for site in config["sae"]["sites"] if site["hook"] == hook)
    settings = {**config["sae"]["training"], **site.get("training", {})}
    d_in = json.loads((STORE / hook / "manifest.json").read_text())["d"]
    total = 0.0
    for arch, coefficients in site["sweep"].items():
        latents = int(round(site["width"] * config["sae"]["architectures"][arch].get("width_ratio", 1.0) * d_in))
        for coefficient in coefficients:
            dense_decoder = arch != "topk" or coefficient * SPARSE_DECODE_RATIO > latents
            step = best_time(matmuls_only(settings["batch_size"], d_in, latents, arch == "gated", dense_decoder),
                             repeats=10, warmup=2)
            total += step * (steps or settings["steps"])
    return total


def run_timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return time.perf_counter() - start


def timed_run(commands: list[list[str]], parallel: int, source: Path | None = None) -> dict[str, float]:
    """Run `commands`, `parallel` at a time in the given order (with the package from
    `source`/src when given): the wall time, the job time (the processes' wall times summed)
    and the CPU time (their user + system time, which leaves out time the hypervisor gave to
    other tenants of the machine)."""
    env = {**os.environ, **({"PYTHONPATH": str(source / "src")} if source else {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        job_times = list(pool.map(lambda c: run_timed(c, env), commands))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"wall": wall, "job": sum(job_times), "cpu": cpu}


def print_training_change(fp32: Path, bf16: Path) -> None:
    """Per architecture, the median and largest relative change of the SAEs' final L0 and
    reconstruction loss (training logs, last step) under bf16 autocast."""
    import pandas as pd

    def finals(folder: Path) -> pd.DataFrame:
        return pd.concat([pd.read_csv(log).assign(site=log.parent.name, sweep=log.stem.split("-")[0])
                          .groupby("coefficient").tail(1) for log in sorted(folder.glob("*/*.csv"))])

    both = finals(fp32).merge(finals(bf16), on=["site", "sweep", "coefficient"], suffixes=("", "_bf16"))
    for sweep, part in both.groupby("sweep"):
        change = {key: ((part[f"{key}_bf16"] - part[key]) / part[key]).abs() for key in ("l0", "reconstruction")}
        print(f"{'':>26} {sweep:>14}: bf16 moves final L0 by {change['l0'].median():.1%} (median; "
              f"largest {change['l0'].max():.1%}), reconstruction loss by {change['reconstruction'].median():.1%} "
              f"(largest {change['reconstruction'].max():.1%}), {len(part)} SAEs", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", nargs="+", default=None,
                        help="SAE sites to train (default: every site of the config, the whole stage).")
    parser.add_argument("--steps", type=int, default=None, help="Steps per SAE (default: the config's).")
    parser.add_argument("--parallel", type=int, default=2, help="Processes at a time (the cores).")
    parser.add_argument("--layouts", nargs="+", default=["before", "per-sae", "per-sweep"],
                        choices=["before", "per-sae", "per-sweep", "per-sweep-bf16"])
    parser.add_argument("--before", default="4d49691",
                        help="The commit whose code the 'before' layout runs (the last one-SAE-per-job code).")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    hooks = args.hooks or [site["hook"] for site in config["sae"]["sites"]]
    for hook in hooks:
        if not (STORE / hook / "manifest.json").exists():
            raise SystemExit(f"no activation store at {STORE / hook}: run the default replication first")
    print(f"sites: {', '.join(hooks)}", flush=True)
    totals = {layout: {"wall": 0.0, "job": 0.0, "cpu": 0.0} for layout in args.layouts}
    with tempfile.TemporaryDirectory() as tmp:
        source = None
        if "before" in args.layouts:
            source = Path(tmp) / "before"
            source.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "src", "workflow"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        # site by site, the layouts back to back in alternating order (ABBA...), so that the
        # machine's drift in speed (other tenants) falls on both layouts alike
        for index, hook in enumerate(hooks):
            for layout in args.layouts if index % 2 == 0 else args.layouts[::-1]:
                commands = sweep_commands(config, hook, Path(tmp) / layout / hook, args.steps, layout)
                times = timed_run(commands, args.parallel, source if layout == "before" else None)
                for key, value in times.items():
                    totals[layout][key] += value
                print(f"{hook:>26} {layout:>14}: {len(commands):2d} processes, {times['wall']:6.1f} s wall "
                      f"({args.parallel} at a time), {times['job']:6.1f} s job time, {times['cpu']:6.1f} s CPU",
                      flush=True)
        if {"per-sweep", "per-sweep-bf16"} <= set(args.layouts):
            print_training_change(Path(tmp) / "per-sweep", Path(tmp) / "per-sweep-bf16")
    for layout, times in totals.items():
        print(f"{'whole stage':>26} {layout:>14}: {times['wall']:6.1f} s wall, {times['job']:6.1f} s job time, "
              f"{times['cpu']:6.1f} s CPU")
    floor = sum(matmul_floor(config, hook, args.steps) for hook in hooks)
    print(f"{'whole stage':>26} {'floor':>14}: {floor:6.1f} s of necessary matmuls (1 thread, nothing else)"
          + (f", {floor / totals['before']['job']:.2f} of before's job time" if "before" in totals else ""))
    for faster in ("per-sweep", "per-sweep-bf16"):
        for layout in ("before", "per-sae"):
            if layout in totals and faster in totals:
                print(f"{faster} / {layout}: " + ", ".join(
                    f"{key} {totals[faster][key] / totals[layout][key]:.2f}" for key in ("wall", "job", "cpu")))


if __name__ == "__main__":
    main()
