# The replication report: every claim, our numbers beside the paper's, a verdict each.

# Runs over seeds (report.seeds: make organism-seeds and make robustness by default), read if
# they have been archived: REPORT.md then says for every claim in how many seeds it replicated.
SEEDS_SUMMARY = [path for path in path_list(config["report"]["seeds"]) if os.path.exists(path)]

# The SAE convergence studies (report.convergence: make sae-convergence and its extensions),
# each read if archived (its headlines and the manifest that says its sites and SAE seed).
CONVERGENCE = [path for path in path_list(config["report"].get("convergence"))
               if os.path.exists(path) and os.path.exists(os.path.join(folder(path), "MANIFEST.json"))]

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
        convergence_manifests=[os.path.join(folder(path), "MANIFEST.json") for path in CONVERGENCE],
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
            "--convergence " + " ".join(map(shlex.quote, CONVERGENCE)) + " --convergence-links "
            + " ".join(shlex.quote(os.path.relpath(os.path.join(folder(path), "CONVERGENCE.md"), RESULTS))
                       for path in CONVERGENCE)) if CONVERGENCE else "",
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
