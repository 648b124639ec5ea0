# The replication report: every claim, our numbers beside the paper's, a verdict each.

CLAIMS = ["localisation", "probes", "pareto_gated", "pareto_jumprelu", "shrinkage", "illusion",
          "illusion_families", "rank_one_edit", "attribution"]


rule build_report:
    input:
        code("report.py", "claims.py", "illusion_claims.py", "illusion.py", "sites.py", "patching.py",
             "editing.py", "intervention.py", "subspace.py", "stages/build_report.py"),
        results=analysis_results,
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
        " --tables {output.tables:q} 2> {log:q}"
