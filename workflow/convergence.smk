"""The SAE convergence study (make sae-convergence):

    snakemake -s workflow/convergence.smk --cores all --configfile config/sae-convergence.yaml

The whole workflow (../Snakefile) is imported once per training length as a Snakemake
module (rules named x<M>_<rule>), with the base config changed by
factlens.sae.convergence.study_config: the organism of the config's `checkpoint` (the
archived one, or another seed's: config/sae-convergence-organism1-16x.yaml), only the
studied sites, every SAE's steps multiplied. Only the SAE stage runs for each length (caching, training,
evaluation, the sweep's tables), and with `attribution: true` the attribution check on that
length's SAEs; the aggregate is archived under the config's resultsdir.
The 1x length is the base run itself: its archived SAE tables are read as they are
(the same organism, data, seeds and steps would train the same SAEs). A study that extends
another to a longer length reads the lengths its `reuse` names from that study's work
folder instead of retraining them (config/sae-convergence-16x.yaml).
"""

import json
import os
import shlex
from pathlib import Path

from snakemake.utils import min_version

from factlens.pipeline.code import stage_code
from factlens.sae import convergence
from factlens.sae.convergence import length_results, study_config
from factlens.pipeline.seeds import base_config

min_version("9.0")


configfile: "config/sae-convergence.yaml"


BASE = base_config(config["base"])
MULTIPLIERS = config["multipliers"]
if sorted(set(MULTIPLIERS)) != MULTIPLIERS or MULTIPLIERS[0] < 1:
    raise ValueError(f"multipliers: give increasing positive integers, got {MULTIPLIERS}")
AGGREGATE = config["resultsdir"]
SRC = Path(workflow.basedir).parent / "src" / "factlens"
# each length's results folder: the base run's own for 1x, a reused study's, or its own
REUSE = config.get("reuse") or {}
RUNS = length_results(MULTIPLIERS, config["workdir"], BASE["resultsdir"], REUSE)
REUSED = sorted(REUSE.get("multipliers", []))
TRAINED = [m for m in MULTIPLIERS if m != 1 and m not in REUSED]
# where the base run archives its organism (workflow/rules/model.smk, archive_checkpoint)
ARCHIVED_ORGANISM = f"{BASE['resultsdir']}/model/checkpoint"
SAE_TABLES = tuple(f"{name}.csv" for name in convergence.SAE_TABLES)
# `attribution: true`: each length's attribution claims too (its MLP0 and residual-site SAEs)
ATTRIBUTION_TABLES = tuple(f"{name}.csv" for name in convergence.ATTRIBUTION_TABLES) if config.get("attribution", False) else ()
for m in REUSED:
    if not Path(RUNS[m], "saes", SAE_TABLES[0]).exists():
        raise ValueError(f"reuse: {RUNS[m]}/saes has no tables; run the study whose workdir is "
                         f"{REUSE['workdir']} first")
    for table in ATTRIBUTION_TABLES:
        if not Path(RUNS[m], "attribution", table).exists():
            raise ValueError(f"reuse: {RUNS[m]}/attribution has no {table}; run the study whose workdir is "
                             f"{REUSE['workdir']} first with attribution: true")

for m in TRAINED:
    folder = f"{config['workdir']}/x{m}"
    workflow.module(name=f"x{m}", snakefile="../Snakefile",
                    config=study_config(BASE, m, config["hooks"], config["checkpoint"], folder, RUNS[m]))
    workflow.userule(rules=["*"], from_module=f"x{m}", exclude_rules=[],
                     name_modifier=f"x{m}_*")(lambda: None)


rule aggregate_convergence:
    input:
        tables=[f"{results}/saes/{table}" for results in RUNS.values() for table in SAE_TABLES],
        attribution=[f"{results}/attribution/{table}" for results in RUNS.values() for table in ATTRIBUTION_TABLES],
        code=stage_code("aggregate_convergence", package=SRC),
    output:
        sweep=f"{AGGREGATE}/sweep.csv",
        headlines=f"{AGGREGATE}/headlines.csv",
        by_site=f"{AGGREGATE}/headlines_by_site.csv",
        shifts=f"{AGGREGATE}/doubling.csv",
        summary=f"{AGGREGATE}/CONVERGENCE.md",
        figure=f"{AGGREGATE}/convergence.png",
        figure_pdf=f"{AGGREGATE}/convergence.pdf",
    params:
        runs=" ".join(f"{m}={results}/saes" for m, results in RUNS.items()),
        hooks=" ".join(map(shlex.quote, config["hooks"])),
        attribution="--attribution" if ATTRIBUTION_TABLES else "",
        setup=lambda w: (f"--setup {shlex.quote(config['setup'])}" if config.get("setup") else ""),
        # a study on another organism than the archived one says which (its checkpoint)
        organism=("" if config["checkpoint"] == ARCHIVED_ORGANISM else
                  "--organism " + shlex.quote(f"the organism in {config['checkpoint']} (not archived)")),
    conda:
        "../environment.yml"
    log:
        f"{config['workdir']}/logs/aggregate_convergence.log",
    benchmark:
        f"{config['workdir']}/benchmarks/aggregate_convergence.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m factlens aggregate-convergence --runs {params.runs} --hooks {params.hooks} {params.attribution}"
        " {params.setup}"
        " {params.organism}"
        " --sweep {output.sweep:q} --headlines {output.headlines:q} --by-site {output.by_site:q}"
        " --shifts {output.shifts:q}"
        " --markdown {output.summary:q} --figure {output.figure:q} 2> {log:q}"


rule archive_convergence:
    default_target: True
    input:
        code=stage_code("archive", package=SRC),
        results=rules.aggregate_convergence.output,
    output:
        manifest=f"{AGGREGATE}/MANIFEST.json",
    params:
        config=json.dumps({"convergence": config, "base": BASE}, sort_keys=True),
        root=lambda w, output: os.path.dirname(output.manifest),
        # the study's own jobs (the 1x run's are in the base run's manifest)
        benchmarks=" ".join(shlex.quote(f"{config['workdir']}/x{m}/benchmarks") for m in TRAINED)
        + f" {config['workdir']}/benchmarks/aggregate_convergence.tsv",
        # lint: the repository itself, on purpose (git is asked for its commit)
        repository=str(Path(workflow.basedir).parent),
    conda:
        "../environment.yml"
    log:
        f"{config['workdir']}/logs/archive_convergence.log",
    benchmark:
        f"{config['workdir']}/benchmarks/archive_convergence.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m factlens archive --files {input.results:q} --root {params.root:q}"
        " --config {params.config:q} --benchmarks {params.benchmarks}"
        " --repository {params.repository:q} --manifest {output.manifest:q} 2> {log:q}"
