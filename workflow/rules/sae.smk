# SAE sweeps: one job per (hook, architecture) trains all of that sweep's coefficients in
# one pass over the same activation batches (each batch read once, no start-up per SAE);
# each SAE still gets its own folder. Changing one coefficient retrains its sweep.

wildcard_constraints:
    hook=r"[^/]+",
    arch="|".join(ARCHS),
    coefficient=r"[0-9.e+-]+",


rule train_sae:
    input:
        code("train_sae"),
        store=f"{store('train', '{hook}')}/manifest.json",
    output:
        # one folder per coefficient inside (cfg.json, sae_weights.safetensors)
        saes=directory(sweep_dir("{hook}", "{arch}")),
        log=f"{sweep_results('{hook}', '{arch}')}/training_log.csv",
    params:
        settings=sweep_settings,
        coefficients=coefficients,
        learning_rate=lambda w: ARCHS[w.arch]["learning_rate"],
        width=width,
        options=options,
        buffer_shards=config["sae"]["buffer_shards"],
        device=config["model"]["device"],
        # outside the output folder, which Snakemake clears before a rerun
        checkpoint=f"{WORK}/checkpoints/saes/{{hook}}/{{arch}}.pt",
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/train_sae/{{hook}}/{{arch}}.log",
    benchmark:
        f"{WORK}/benchmarks/train_sae/{{hook}}/{{arch}}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    shell:
        "python -m factlens train-sae --settings {params.settings:q} --threads {threads}"
        " --device {params.device}"
        " --store $(dirname {input.store:q}) --architecture {wildcards.arch}"
        " --coefficients {params.coefficients} --width {params.width}"
        " --learning-rate {params.learning_rate} --options {params.options:q}"
        " --buffer-shards {params.buffer_shards} --checkpoint {params.checkpoint:q}"
        " --hook {wildcards.hook:q} --out {output.saes:q}"
        " --log {output.log:q} 2> {log:q}"


# One evaluation job per hook: the model, the held-out tokens and the clean and
# zero-ablated losses are loaded or computed once and shared by every SAE at that hook.
rule evaluate_saes:
    input:
        code("evaluate_sae"),
        sweeps=lambda w: [sweep_dir(hook, arch) for hook, arch in sweeps() if hook == w.hook],
        store=f"{store('heldout', '{hook}')}/manifest.json",
        corpus=corpus_input("heldout"),
        model=MODEL if ORGANISM else [],
    output:
        table=f"{RESULTS}/saes/{{hook}}/metrics.csv",
        # per-sequence sums, archived (small) so the comparison's intervals can be redrawn
        sequences=f"{RESULTS}/saes/{{hook}}/sequences.parquet",
    params:
        model=model_argument,
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
        saes=lambda w: " ".join(shlex.quote(sae_dir(*point)) for point in site_points(w.hook)),
        store=lambda w, input: folder(input.store),
        corpus=corpus_flags("heldout"),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/evaluate_saes/{{hook}}.log",
    benchmark:
        f"{WORK}/benchmarks/evaluate_saes/{{hook}}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "python -m factlens evaluate-sae --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype} --saes {params.saes}"
        " --store {params.store:q} {params.corpus}"
        " --table {output.table:q} --sequences {output.sequences:q} 2> {log:q}"


rule summarise_saes:
    input:
        code("summarise_saes"),
        metrics=expand(rules.evaluate_saes.output.table, hook=SITES),
        sequences=expand(rules.evaluate_saes.output.sequences, hook=SITES),
    output:
        table=f"{RESULTS}/saes/sweep.csv",
        markdown=f"{RESULTS}/saes/sweep.md",
        comparison=f"{RESULTS}/saes/l0_at_equal_loss_recovered.csv",
        equal_l0=f"{RESULTS}/saes/at_equal_l0.csv",
        pareto=report(f"{RESULTS}/saes/pareto.png", caption="../report/pareto.rst", category="SAEs"),
        pareto_pdf=f"{RESULTS}/saes/pareto.pdf",
        shrinkage=report(f"{RESULTS}/saes/shrinkage.png", caption="../report/shrinkage.rst",
                         category="SAEs"),
        shrinkage_pdf=f"{RESULTS}/saes/shrinkage.pdf",
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/summarise_saes.log",
    benchmark:
        f"{WORK}/benchmarks/summarise_saes.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m factlens summarise-saes --metrics {input.metrics:q} --sequences {input.sequences:q}"
        " --table {output.table:q} --comparison {output.comparison:q} --equal-l0 {output.equal_l0:q}"
        " --pareto-figure {output.pareto:q} --shrinkage-figure {output.shrinkage:q} 2> {log:q}"
