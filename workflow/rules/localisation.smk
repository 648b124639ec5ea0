# Fact-finding localisation on the known facts: sport probes by layer and activation
# patching of clean/corrupt prompt pairs.

PROMPTS = rules.prepare_prompts.output.prompts


rule probe_sport:
    input:
        code("probe_sport"),
        prompts=PROMPTS,
        scores=rules.prepare_prompts.output.scores,
        model=MODEL if ORGANISM else [],
    output:
        table=f"{RESULTS}/localisation/probe_accuracy.csv",
        figure=report(f"{RESULTS}/localisation/probe_accuracy.png", caption="../report/probes.rst",
                      category="Fact finding"),
        figure_pdf=f"{RESULTS}/localisation/probe_accuracy.pdf",
    params:
        model=model_argument,
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
        test_fraction=config["localisation"]["probe"]["test_fraction"],
        regularisation=" ".join(map(str, config["localisation"]["probe"]["regularisation"])),
        seed=config["localisation"]["probe"]["seed"],
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/probe_sport.log",
    benchmark:
        f"{WORK}/benchmarks/probe_sport.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    shell:
        "python -m factlens probe-sport --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype} --prompts {input.prompts:q}"
        " --scores {input.scores:q} --test-fraction {params.test_fraction} --regularisation {params.regularisation}"
        " --seed {params.seed} --table {output.table:q} --figure {output.figure:q} 2> {log:q}"


rule patch_facts:
    input:
        code("patch_facts"),
        prompts=PROMPTS,
        scores=rules.prepare_prompts.output.scores,
        model=MODEL if ORGANISM else [],
    output:
        table=f"{RESULTS}/localisation/patching.csv",
        figure=report(f"{RESULTS}/localisation/patching.png", caption="../report/patching.rst",
                      category="Fact finding"),
        figure_pdf=f"{RESULTS}/localisation/patching.pdf",
    params:
        model=model_argument,
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
        pairs=config["localisation"]["patching"]["pairs"],
        seed=config["localisation"]["patching"]["seed"],
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/patch_facts.log",
    benchmark:
        f"{WORK}/benchmarks/patch_facts.tsv"
    threads: config["threads"]
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "python -m factlens patch-facts --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype} --prompts {input.prompts:q}"
        " --scores {input.scores:q} --pairs {params.pairs} --seed {params.seed} --table {output.table:q}"
        " --figure {output.figure:q} 2> {log:q}"
