# The archive manifest: sha256 of every archived file, config, package versions, commit,
# machine and the wall time of every job (read from the benchmark files).


rule archive_results:
    input:
        code("archive"),
        results=analysis_results,
        report=rules.build_report.output,
        verdicts=rules.claim_verdicts.output,
    output:
        manifest=f"{RESULTS}/MANIFEST.json",
    params:
        config=as_json(config),
        root=lambda w, output: folder(output.manifest),
        benchmarks=f"{WORK}/benchmarks",
        # lint: a "hard-coded prefix" of the code inputs, on purpose: git is asked for
        # the commit of the repository itself, not of a file this rule reads
        repository=str(REPO),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/archive_results.log",
    benchmark:
        f"{WORK}/benchmarks/archive_results.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m factlens archive --files {input.results:q} {input.report:q} {input.verdicts:q}"
        " --root {params.root:q}"
        " --config {params.config:q} --benchmarks {params.benchmarks:q}"
        " --repository {params.repository:q} --manifest {output.manifest:q} 2> {log:q}"
