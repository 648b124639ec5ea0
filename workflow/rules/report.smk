# The replication report: every claim, our numbers beside the paper's, a verdict each.

# Runs over seeds (report.seeds: make organism-seeds and make robustness by default), read if
# they have been archived: REPORT.md then says for every claim in how many seeds it replicated.
SEEDS_SUMMARY = [path for path in seeds_summaries(config["report"]["seeds"]) if os.path.exists(path)]

# The SAE convergence study (report.convergence: make sae-convergence), read if archived.
CONVERGENCE = [path for path in [config["report"].get("convergence")] if path and os.path.exists(path)]

CLAIMS = list(CLAIM_KEYS)


rule claim_verdicts:
    input:
        code("claim_verdicts"),
        results=analysis_results,
    output:
        verdicts=f"{RESULTS}/report/verdicts.csv",
    params:
        results=lambda w, output: folder(folder(output.verdicts)),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/claim_verdicts.log",
    benchmark:
        f"{WORK}/benchmarks/claim_verdicts.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m factlens claim-verdicts --results {params.results:q} --table {output.verdicts:q}"
        " 2> {log:q}"


rule build_report:
    input:
        code("build_report"),
        results=analysis_results,
        seeds=SEEDS_SUMMARY,
        convergence=CONVERGENCE,
    output:
        report=f"{RESULTS}/REPORT.md",
        tables=[report(f"{RESULTS}/report/{claim}.csv", caption="../report/claims.rst",
                       category="Claims", labels={"claim": claim}) for claim in CLAIMS],
        markdown=[f"{RESULTS}/report/{claim}.md" for claim in CLAIMS],
        model_card=f"{RESULTS}/model/MODEL_CARD.md" if ORGANISM else [],
    params:
        results=lambda w, output: folder(output.report),
        model_name=config["model"]["name"],
        organism=f"--organism {shlex.quote(as_json(config['model']['organism']))}" if ORGANISM else "",
        model_card=f"--model-card {RESULTS}/model/MODEL_CARD.md" if ORGANISM else "",
        seeds=lambda w, input: (
            "--seeds " + " ".join(map(shlex.quote, SEEDS_SUMMARY)) + " --seeds-links "
            + " ".join(shlex.quote(os.path.relpath(path.replace("seeds.csv", "SEEDS.md"), RESULTS))
                       for path in SEEDS_SUMMARY)) if SEEDS_SUMMARY else "",
        convergence=lambda w, input: (
            f"--convergence {shlex.quote(input.convergence[0])} --convergence-link "
            + shlex.quote(os.path.relpath(input.convergence[0].replace("headlines.csv", "CONVERGENCE.md"), RESULTS))
        ) if input.convergence else "",
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/build_report.log",
    benchmark:
        f"{WORK}/benchmarks/build_report.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m factlens build-report --results {params.results:q} --model-name {params.model_name:q}"
        " {params.organism} {params.model_card} --report {output.report:q}"
        " --tables {output.tables:q} {params.seeds} {params.convergence} 2> {log:q}"
