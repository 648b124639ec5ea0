"""Partial reruns (dry runs on the finished smoke run): a config or code change reruns
exactly what depends on it; the README's rerun examples plan what they say; a fresh clone
with archived results does not rebuild everything for one output."""

import fnmatch
import os
import re
import shutil
import time

import pandas as pd
import yaml

from conftest import REPO
from workflow_runs import SMOKE, clone_repository, factlens, planned_jobs, snakemake

DOWNSTREAM = {"claim_verdicts": 1, "build_report": 1, "archive_results": 1, "all": 1}


def changed_config(tmp_path, change) -> str:
    config = yaml.safe_load((REPO / SMOKE).read_text())
    change(config)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_changing_one_sparsity_coefficient_reruns_only_that_sae_and_its_dependants(smoke_run, tmp_path):
    config = changed_config(tmp_path, lambda c: c["sae"]["sites"][0]["sweep"]["gated"].__setitem__(0, 0.3))
    # one SAE retrains; its hook's evaluation (one job for all SAEs of a hook, which shares
    # the model and reference losses), the sweep summary, the illusion check that takes its
    # latents at that hook, the report and the manifest follow
    at_hook = sum(hook == "blocks.1.hook_resid_post" for hook, _ in direction_checks(smoke_run))
    assert at_hook >= 1
    assert planned_jobs(snakemake(smoke_run, "--dry-run", config=config)) == {
        "train_sae": 1, "evaluate_saes": 1, "summarise_saes": 1,
        "check_directions": at_hook, "summarise_directions": 1, **DOWNSTREAM}


def direction_checks(run) -> set[tuple[str, str]]:
    """(hook, position) of every illusion check the finished run chose."""
    sites = pd.read_csv(run / "results" / "smoke" / "directions" / "sites.csv")
    return set(zip(sites["hook"], sites["position"]))


def test_changing_the_das_learning_rate_reruns_only_the_direction_checks(smoke_run, tmp_path):
    config = changed_config(tmp_path, lambda c: c["directions"]["das"].__setitem__("learning_rate", 0.02))
    assert planned_jobs(snakemake(smoke_run, "--dry-run", config=config)) == {
        "check_directions": len(direction_checks(smoke_run)), "summarise_directions": 1, **DOWNSTREAM}


def test_editing_one_stage_module_reruns_that_stage_and_downstream(smoke_run):
    module = smoke_run / "src" / "factlens" / "pipeline" / "stages" / "probe_sport.py"
    original, stat = module.read_text(), module.stat()
    try:
        module.write_text(original + "\n# an edit\n")
        # the probes choose the illusion sites too (the input probe), so the checkpoint reruns
        planned = planned_jobs(snakemake(smoke_run, "--dry-run"))
        assert planned == {"probe_sport": 1, "choose_illusion_sites": 1, "summarise_directions": 1, **DOWNSTREAM}
    finally:
        module.write_text(original)
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_changing_nothing_reruns_nothing(smoke_run):
    assert planned_jobs(snakemake(smoke_run, "--dry-run")) == {}


def readme_rerun_examples() -> list[tuple[str, list[str]]]:
    """(command, rules it runs) for each example of the README's rerun section."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Rerunning part of the workflow"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    examples = []
    for line in block.splitlines():
        if line.startswith("snakemake"):
            command, expected = line.split("# ->")
            examples.append((command.strip(), [rule.strip() for rule in expected.split(",")]))
    return examples


def test_the_readme_rerun_examples_plan_what_they_say(smoke_run):
    examples = readme_rerun_examples()
    assert len(examples) == 5
    for command, expected in examples:
        arguments = (command.replace("config/config.yaml", SMOKE).replace("/default/", "/smoke/")
                     .split()[1:])
        assert arguments[:4] == ["--cores", "2", "--configfile", SMOKE]
        jobs = planned_jobs(snakemake(smoke_run, *arguments[4:], "--dry-run"))
        planned = sorted(set(jobs) - {"all"})
        matches = {pattern: [rule for rule in planned if fnmatch.fnmatch(rule, pattern)]
                   for pattern in expected}
        assert all(matches.values()), (command, jobs)
        assert sorted(rule for found in matches.values() for rule in found) == planned, (command, jobs)


def test_a_fresh_clone_with_archived_results_reruns_only_what_one_output_needs(smoke_run, tmp_path):
    fresh = clone_repository(tmp_path / "fresh")
    shutil.copytree(smoke_run / "results", fresh / "results")
    # git checks files out in path order: results/ before src/, so the code looks newer
    past = time.time() - 3600
    for path in (fresh / "results").rglob("*"):
        os.utime(path, (past, past))
    for path in (fresh / "src").rglob("*.py"):  # checked out now, whenever it was last edited
        os.utime(path)
    report = "results/smoke/REPORT.md"
    assert "train_model" in planned_jobs(snakemake(fresh, report, "--dry-run"))

    verified = factlens(fresh, "verify", "--manifest", "results/smoke/MANIFEST.json", "--touch")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "marked up to date" in verified.stdout
    assert planned_jobs(snakemake(fresh, report, "--dry-run")) == {}
    assert planned_jobs(snakemake(fresh, "-f", "results/smoke/saes/pareto.png", "--dry-run")) == {
        "summarise_saes": 1}

    # a module edited after the archive was made: only its stage and what follows rerun
    module = fresh / "src" / "factlens" / "pipeline" / "stages" / "summarise_saes.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    verified = factlens(fresh, "verify", "--manifest", "results/smoke/MANIFEST.json", "--touch")
    assert "src/factlens/pipeline/stages/summarise_saes.py" in verified.stdout
    assert planned_jobs(snakemake(fresh, report, "--dry-run")) == {"summarise_saes": 1, "build_report": 1}
