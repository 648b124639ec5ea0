# The replication report: every claim, our numbers beside the paper's, a verdict each.

CLAIMS = ["localisation", "probes", "pareto_gated", "pareto_jumprelu", "shrinkage", "illusion",
          "illusion_families", "rank_one_edit", "attribution"]


# Everything the analysis rules archive; the report reads these, the manifest hashes them.
# The illusion checks depend on the sites the localisation chose (a checkpoint).
def analysis_results(wildcards=None):
    return [
        *results_of(rules.prepare_prompts.output, rules.summarise_saes.output,
                    rules.probe_sport.output, rules.patch_facts.output,
                    rules.choose_illusion_sites.output, rules.summarise_directions.output,
                    rules.attribute_latents.output),
        *(results_of(rules.prepare_world.output, rules.train_tokenizer.output,
                     rules.train_model.output) if ORGANISM else []),
        *results_of(direction_checks()),
        *[f"{sae_results(*point)}/{name}" for point in sweep_points()
          for name in ("training_log.csv", "metrics.json")],
    ]


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
        results=RESULTS,
        model_name=config["model"]["name"],
        organism=f"--organism {shlex.quote(as_json(config['model']['organism']))}" if ORGANISM else "",
        model_card=f"--model-card {RESULTS}/model/MODEL_CARD.md" if ORGANISM else "",
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
