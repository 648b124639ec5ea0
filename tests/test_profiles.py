"""Scaling out: the SLURM profile parses, builds the same full DAG as a local run, and
puts the model-running rules on GPU nodes; every rule declares threads and resources."""

import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from workflow_runs import clone_repository

PROFILE = REPO / "profiles" / "slurm"


def dry_run(clone, config: str, *arguments: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", config, "--dry-run", *arguments],
        cwd=clone, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def jobs_by_rule(output: str) -> dict[str, list[str]]:
    """Rule -> the resources line of each of its planned jobs."""
    jobs = {}
    for block in re.split(r"\n(?:rule|checkpoint) ", output)[1:]:
        name = block.split(":", 1)[0]
        resources = re.search(r"resources: (.*)", block)
        jobs.setdefault(name, []).append(resources.group(1) if resources else "")
    return jobs


def test_the_slurm_profile_parses():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert {"slurm_account", "slurm_partition", "mem_mb", "runtime"} <= set(profile["default-resources"])
    for rule, resources in profile["set-resources"].items():
        assert resources["gpu"] == 1 and resources["mem_mb"] > 0 and resources["runtime"] > 0, rule


@pytest.mark.parametrize("config", ["config/pythia-2.8b.yaml", "config/config.yaml"])
def test_a_dry_run_with_the_slurm_profile_builds_the_full_dag(config, tmp_path):
    # in a fresh clone nothing has run yet, so both dry runs plan the whole DAG
    clone = clone_repository(tmp_path / "clone")
    local = jobs_by_rule(dry_run(clone, config, "--cores", "2").stdout)
    cluster = jobs_by_rule(dry_run(clone, config, "--workflow-profile", "profiles/slurm").stdout)
    assert {rule: len(jobs) for rule, jobs in cluster.items()} == {
        rule: len(jobs) for rule, jobs in local.items()}
    assert "train_sae" in cluster and "archive_results" in cluster
    gpu_rules = yaml.safe_load((PROFILE / "config.yaml").read_text())["set-resources"]
    if config == "config/pythia-2.8b.yaml":
        # the direction checks are planned once the checkpoint has chosen their sites
        assert set(gpu_rules) - {"check_directions"} <= set(cluster), "the profile names rules the DAG lacks"
        assert "choose_illusion_sites" in cluster
    for rule, resources in cluster.items():
        if rule == "all":
            continue
        for line in resources:
            assert "slurm_partition=" in line and "mem_mb=" in line and "runtime=" in line, rule
            assert ("gpu=1" in line) == (rule in gpu_rules), (rule, line)


def test_every_rule_declares_threads_resources_log_and_benchmark():
    rules = []
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        for block in re.split(r"\n(?=[ \t]*(?:rule|checkpoint)(?: \w+)?:)", text)[1:]:
            rules.append(block)
            for keyword in ("threads:", "mem_mb=", "runtime=", "log:", "benchmark:", "shell:"):
                assert keyword in block, f"{path.name}: {block.splitlines()[0].strip()} lacks {keyword}"
    assert len(rules) >= 14


@pytest.mark.parametrize("arguments, modules", [
    (["--configfile", "config/config.yaml"], [""]),
    (["-s", "workflow/seeds.smk", "--configfile", "config/seeds.yaml"],
     ["seed0_", "seed1_", "seed2_", "seeds"])])
def test_snakemake_lint_finds_only_the_justified_findings(arguments, modules):
    """`snakemake --lint` (of the workflow, and of the seeds run that imports it once per
    seed): every rule has a conda environment, paths are inputs/outputs; the two findings
    left are justified in a comment where they are raised."""
    result = subprocess.run(["snakemake", "--lint", "--nolock", *arguments],
                            cwd=REPO, capture_output=True, text=True)
    # every finding of every block ("Lints for WHERE:" then one "* TITLE:" line per finding)
    blocks = re.split(r"^Lints for ", result.stderr + result.stdout, flags=re.M)[1:]
    found = sorted((block.split(":\n")[0].split(" (line")[0].split("/")[-1], re.sub(r" in line \d+\.$", "", title))
                   for block in blocks for title in re.findall(r"^\s+\* (.+?):$", block, re.M))
    justified = [("common.smk", "Environment variable PYTHONPATH used but not asserted with envvars directive")]
    justified += [(f"rule {prefix}archive_results" if prefix != "seeds" else "rule archive_seeds",
                   "Param repository is a prefix of input or output file but hardcoded") for prefix in modules]
    assert found == sorted(justified), result.stderr[-3000:]
