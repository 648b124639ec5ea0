"""How close a finished run came to the fastest schedule its jobs allow on its cores.

Reads the run's own records: Snakemake's dry run of the whole workflow for the given
configs (each job's rule, threads, inputs, outputs, log and benchmark file), the job times
in the benchmark files and the end times of the log files. Prints, per rule, the jobs'
time and core-seconds (time x threads), then the run's wall time from its first job's
start to its last job's end beside two bounds no schedule can beat on `--cores`: the
core-seconds over the cores, and the longest chain of dependent jobs. A list schedule of
the same jobs (the job with the longest chain after it first) shows what a scheduler can
reach. `--what-if RULE=THREADS:SECONDS` schedules that rule's jobs with other threads and
times (measured separately), to ask whether a change of threads would shorten the run.

    python bench/run_schedule.py --configfile config/config.yaml config/archived.yaml \\
        --what-if attribute_latents=1:240
"""

from __future__ import annotations

import argparse
import heapq
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from common import REPO


@dataclass
class Job:
    rule: str
    threads: int = 1
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    log: str = ""
    benchmark: str = ""
    seconds: float = 0.0
    needs: set[int] = field(default_factory=set)


def planned_jobs(configfiles: list[str], cores: int, force: list[str]) -> list[Job]:
    """The jobs Snakemake's dry run lists for these configs with `force` (e.g. --forceall)."""
    command = [sys.executable, "-m", "snakemake", "-n", *force, "--cores", str(cores), "--configfile",
               *configfiles, "--workflow-profile", "profiles/default"]
    text = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \S+:)", text)[1:]:
        job = Job(rule=re.match(r"(?:local)?(?:rule|checkpoint) (\S+):", block).group(1))
        for key, value in re.findall(r"^    (\w+): (.*)$", block, re.MULTILINE):
            if key in ("input", "output"):
                setattr(job, f"{key}s", [path.strip() for path in value.split(",")])
            elif key in ("log", "benchmark"):
                setattr(job, key, value.strip())
            elif key == "threads":
                job.threads = int(value)
        jobs.append(job)
    return jobs


def run_jobs(configfiles: list[str], cores: int) -> list[Job]:
    """Every job of the run. A forced dry run cannot list the jobs after a checkpoint (their
    number depends on its output), so the rules that left benchmarks but are not in it are
    planned again, forced and the only ones allowed to run: the checkpoint counts as done."""
    jobs = planned_jobs(configfiles, cores, ["--forceall"])
    folder = next(Path(job.benchmark.split("/benchmarks/")[0], "benchmarks") for job in jobs if job.benchmark)
    if not (REPO / folder).is_dir():
        raise SystemExit(f"no {folder}: run the workflow with these configs first")
    ran = {path.relative_to(REPO / folder).parts[0].removesuffix(".tsv") for path in (REPO / folder).rglob("*.tsv")}
    missing = sorted(ran - {job.rule for job in jobs})
    if missing:
        known = {(job.rule, tuple(job.outputs)) for job in jobs}
        jobs += [job for job in planned_jobs(configfiles, cores, ["--forcerun", *missing, "--allowed-rules", *missing])
                 if (job.rule, tuple(job.outputs)) not in known]
    return jobs


def link(jobs: list[Job]) -> None:
    """Each job's `needs`: the jobs that write one of its inputs (a file, or a folder above it)."""
    writer = {os.path.normpath(path): index for index, job in enumerate(jobs) for path in job.outputs}
    for job in jobs:
        for path in map(os.path.normpath, job.inputs):
            while path not in writer and os.path.dirname(path) != path and os.sep in path:
                path = os.path.dirname(path)
            if path in writer:
                job.needs.add(writer[path])


def chains(jobs: list[Job]) -> list[float]:
    """For each job, the time of the longest chain of jobs from its start to the run's end."""
    after = [[] for _ in jobs]
    for index, job in enumerate(jobs):
        for need in job.needs:
            after[need].append(index)
    memo: dict[int, float] = {}

    def chain(index: int) -> float:
        if index not in memo:
            memo[index] = jobs[index].seconds + max((chain(i) for i in after[index]), default=0.0)
        return memo[index]

    return [chain(index) for index in range(len(jobs))]


def list_schedule(jobs: list[Job], cores: int) -> float:
    """Wall time of a greedy schedule that starts, whenever threads are free, the ready job
    with the longest chain after it."""
    priority = chains(jobs)
    done, started, running, clock, free = set(), set(), [], 0.0, cores
    while len(done) < len(jobs):
        ready = sorted((i for i, job in enumerate(jobs) if i not in started and job.needs <= done),
                       key=lambda i: -priority[i])
        for index in ready:
            threads = min(jobs[index].threads, cores)
            if threads <= free:
                free -= threads
                started.add(index)
                heapq.heappush(running, (clock + jobs[index].seconds, index))
        clock, index = heapq.heappop(running)
        done.add(index)
        free += min(jobs[index].threads, cores)
    return clock


def core_seconds(jobs: list[Job], cores: int) -> float:
    """Job time times threads (a job asking for more threads than cores gets the cores)."""
    return sum(job.seconds * min(job.threads, cores) for job in jobs)


def measured_wall(jobs: list[Job]) -> float:
    """From the first job's start (its log's end time less its job time) to the last job's end."""
    ends = [(Path(REPO, job.log).stat().st_mtime, job.seconds) for job in jobs
            if job.log and Path(REPO, job.log).exists()]
    return max(end for end, _ in ends) - min(end - seconds for end, seconds in ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=["prepare_world", "train_tokenizer", "train_model"],
                        help="rules left out (default: the organism and what it needs, to time the rest)")
    parser.add_argument("--what-if", nargs="*", default=[], metavar="RULE=THREADS:SECONDS")
    args = parser.parse_args()
    jobs = [job for job in run_jobs(args.configfile, args.cores) if job.rule not in args.skip]
    for job in jobs:
        if job.benchmark:
            job.seconds = float(pd.read_csv(Path(REPO, job.benchmark), sep="\t")["s"].iloc[-1])
    link(jobs)
    table = pd.DataFrame({"rule": [job.rule for job in jobs], "threads": [job.threads for job in jobs],
                          "job_time_s": [job.seconds for job in jobs],
                          "core_s": [core_seconds([job], args.cores) for job in jobs]})
    per_rule = table.groupby("rule").agg(jobs=("rule", "size"), threads=("threads", "max"),
                                         job_time_s=("job_time_s", "sum"), core_s=("core_s", "sum"))
    print(per_rule.sort_values("core_s", ascending=False).round(1).to_string())
    total = core_seconds(jobs, args.cores)
    print(f"\n{len(jobs)} jobs ({', '.join(args.skip)} left out): {table['job_time_s'].sum():.0f} s of job time, "
          f"{total:.0f} core-seconds")
    print(f"measured wall time   {measured_wall(jobs):6.0f} s (first job's start to last job's end)")
    print(f"core-seconds / {args.cores}     {total / args.cores:6.0f} s (a bound: every core busy)")
    print(f"longest chain        {max(chains(jobs)):6.0f} s (a bound: dependent jobs one after another)")
    print(f"list schedule        {list_schedule(jobs, args.cores):6.0f} s")
    for change in args.what_if:
        rule, setting = change.split("=")
        threads, seconds = setting.split(":")
        for job in jobs:
            if job.rule == rule:
                job.threads, job.seconds = int(threads), float(seconds)
        print(f"with {change}: core-seconds / {args.cores} {core_seconds(jobs, args.cores) / args.cores:.0f} s, "
              f"list schedule {list_schedule(jobs, args.cores):.0f} s")


if __name__ == "__main__":
    main()
