"""The replication over seeds (make robustness), or the organism alone over seeds
(make organism-seeds, `scope: organism`):

    snakemake -s workflow/seeds.smk --cores all --configfile config/seeds.yaml
    snakemake -s workflow/seeds.smk --cores all --configfile config/organism-seeds.yaml

The whole workflow (../Snakefile) is imported once per seed as a Snakemake module, with
the base config and every seed set to that seed (factlens.pipeline.seeds.seeded_config); rules
are named seed<N>_<rule>. A seed whose seeds equal the base config's is the base run itself
(its folders, reused as they are). The other seeds' results go to their work folders;
the aggregate of all verdicts is archived under the config's resultsdir. With
`scope: organism` only the organism's training and analyses run for each seed (prompts,
probes, patching, illusion sites and checks; no SAEs beyond what a check needs), and
the aggregate is the organism's table, targets and verdict sensitivity.
"""

import json
import os
import shlex
from pathlib import Path

from snakemake.utils import min_version

from factlens.pipeline.code import stage_code
from factlens.pipeline.seeds import base_config, same_seeds, seed_folders, seed_tables, seeded_config

min_version("9.0")


configfile: "config/seeds.yaml"


BASE = base_config(config["base"])
SEEDS = config["seeds"]
if len(SEEDS) < 2 or len(set(SEEDS)) < len(SEEDS):
    raise ValueError(f"seeds: give at least two distinct seeds, got {SEEDS}")
AGGREGATE = config["resultsdir"]
SCOPE = config.get("scope", "replication")
if SCOPE not in ("replication", "organism"):
    raise ValueError(f"scope: 'replication' or 'organism', got {SCOPE!r}")
FOLDERS = {seed: seed_folders(BASE, seed, config["workdir"]) for seed in SEEDS}
SRC = Path(workflow.basedir).parent / "src" / "factlens"

# Snakemake's module API directly: the `module` statement cannot take its name from a
# loop variable.
for seed, (workdir_, resultsdir_) in FOLDERS.items():
    workflow.module(name=f"seed{seed}", snakefile="../Snakefile",
                    config=seeded_config(BASE, seed, workdir_, resultsdir_))
    workflow.userule(rules=["*"], from_module=f"seed{seed}", exclude_rules=[],
                     name_modifier=f"seed{seed}_*")(lambda: None)


# Each seed's own tables, copied beside the aggregate (factlens.pipeline.seeds.seed_tables) and linked
# from its summary; the archive holds them.
SEED_TABLES = [f"seed-{seed}/{table}" for seed in SEEDS for table in seed_tables(SCOPE)]
SEED_TABLE_ARGUMENT = " ".join(map(shlex.quote, SEED_TABLES))


rule seed_table:
    input:
        lambda w: f"{FOLDERS[int(w.seed)][1]}/{w.table}",
    output:
        f"{AGGREGATE}/seed-{{seed}}/{{table}}",
    wildcard_constraints:
        seed=r"\d+",
    localrule: True
    conda:
        "../environment.yml"
    log:
        f"{config['workdir']}/logs/seed_table/seed-{{seed}}/{{table}}.log",
    threads: 1
    resources:
        mem_mb=100,
        runtime=1,
    shell:
        "cp {input:q} {output:q} 2> {log:q}"


if SCOPE == "organism":

    rule aggregate_organism:
        input:
            tables=[f"{FOLDERS[seed][1]}/{table}" for seed in SEEDS for table in (
                "model/accuracy.json", "model/loss_curve.csv", "localisation/patching.csv",
                "localisation/probe_accuracy.csv", "directions/sites.csv", "directions/summary.csv",
                "directions/families.csv")],
            benchmarks=[f"{FOLDERS[seed][0]}/benchmarks/train_model.tsv" for seed in SEEDS],
            code=stage_code("aggregate_organism", package=SRC),
        output:
            table=f"{AGGREGATE}/organism.csv",
            sensitivity=f"{AGGREGATE}/sensitivity.csv",
            verdicts=f"{AGGREGATE}/verdicts.csv",
            claims=f"{AGGREGATE}/seeds.csv",
            summary=f"{AGGREGATE}/SEEDS.md",
            figure=f"{AGGREGATE}/organism.png",
            figure_pdf=f"{AGGREGATE}/organism.pdf",
        params:
            runs=" ".join(f"{seed}={FOLDERS[seed][1]}={FOLDERS[seed][0]}/benchmarks/train_model.tsv"
                          for seed in SEEDS),
            base=config["base"],
            seed_tables=SEED_TABLE_ARGUMENT,
        conda:
            "../environment.yml"
        log:
            f"{config['workdir']}/logs/aggregate_organism.log",
        benchmark:
            f"{config['workdir']}/benchmarks/aggregate_organism.tsv"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        shell:
            "python -m factlens aggregate-organism --runs {params.runs} --base {params.base:q}"
            " --table {output.table:q} --sensitivity {output.sensitivity:q} --verdicts {output.verdicts:q}"
            " --claims {output.claims:q} --markdown {output.summary:q}"
            " --figure {output.figure:q} --seed-tables {params.seed_tables} 2> {log:q}"

    AGGREGATE_OUTPUTS = rules.aggregate_organism.output
    AGGREGATE_BENCHMARK = rules.aggregate_organism.benchmark

else:

    rule aggregate_seeds:
        input:
            verdicts=[f"{FOLDERS[seed][1]}/report/verdicts.csv" for seed in SEEDS],
            # each other seed's full report (the base run's is made by the base workflow, where
            # it reads this aggregate)
            reports=[f"{FOLDERS[seed][1]}/REPORT.md" for seed in SEEDS if not same_seeds(BASE, seed)],
            code=stage_code("aggregate_seeds", package=SRC),
        output:
            table=f"{AGGREGATE}/seeds.csv",
            by_seed=f"{AGGREGATE}/verdicts.csv",
            summary=f"{AGGREGATE}/SEEDS.md",
            figure=f"{AGGREGATE}/seeds.png",
            figure_pdf=f"{AGGREGATE}/seeds.pdf",
        params:
            verdicts=lambda w, input: " ".join(f"{seed}={path}" for seed, path in zip(SEEDS, input.verdicts)),
            base=config["base"],
            seed_tables=SEED_TABLE_ARGUMENT,
        conda:
            "../environment.yml"
        log:
            f"{config['workdir']}/logs/aggregate_seeds.log",
        benchmark:
            f"{config['workdir']}/benchmarks/aggregate_seeds.tsv"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        shell:
            "python -m factlens aggregate-seeds --verdicts {params.verdicts} --base {params.base:q}"
            " --table {output.table:q} --by-seed {output.by_seed:q} --markdown {output.summary:q}"
            " --figure {output.figure:q} --seed-tables {params.seed_tables} 2> {log:q}"

    AGGREGATE_OUTPUTS = rules.aggregate_seeds.output
    AGGREGATE_BENCHMARK = rules.aggregate_seeds.benchmark


rule archive_seeds:
    default_target: True
    input:
        code=stage_code("archive", package=SRC),
        results=AGGREGATE_OUTPUTS,
        seed_tables=[f"{AGGREGATE}/{table}" for table in SEED_TABLES],
    output:
        manifest=f"{AGGREGATE}/MANIFEST.json",
    params:
        config=json.dumps({"seeds": config, "base": BASE}, sort_keys=True),
        root=lambda w, output: os.path.dirname(output.manifest),
        # every seed's job times but the base run's (those are in its own manifest), and the
        # aggregate's; not the other seeds target's, which shares the seeds' work folders
        benchmarks=" ".join(shlex.quote(path) for path in
                            [f"{FOLDERS[seed][0]}/benchmarks" for seed in SEEDS if not same_seeds(BASE, seed)]
                            + [str(AGGREGATE_BENCHMARK)]),
        # lint: the repository itself, on purpose (git is asked for its commit)
        repository=str(Path(workflow.basedir).parent),
    conda:
        "../environment.yml"
    log:
        f"{config['workdir']}/logs/archive_seeds.log",
    benchmark:
        f"{config['workdir']}/benchmarks/archive_seeds.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m factlens archive --files {input.results:q} {input.seed_tables:q} --root {params.root:q}"
        " --config {params.config:q} --benchmarks {params.benchmarks}"
        " --repository {params.repository:q} --manifest {output.manifest:q} 2> {log:q}"
