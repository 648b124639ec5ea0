# Learned directions and the interpretability-illusion check: the sites come from this
# run's localisation (a checkpoint), one job per (site, position), then a summary.


checkpoint choose_illusion_sites:
    input:
        code("choose_sites"),
        patching=rules.patch_facts.output.table,
        probes=rules.probe_sport.output.table,
    output:
        table=f"{RESULTS}/directions/sites.csv",
    params:
        sweep=config["directions"]["sweep"],
        extra=as_json(config["directions"]["sites"]),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/choose_illusion_sites.log",
    benchmark:
        f"{WORK}/benchmarks/choose_illusion_sites.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m factlens choose-sites --patching {input.patching:q} --probes {input.probes:q}"
        " --sweep {params.sweep}"
        " --extra {params.extra:q} --table {output.table:q} 2> {log:q}"


rule check_directions:
    input:
        code("check_directions"),
        prompts=PROMPTS,
        model=MODEL if ORGANISM else [],
        sae=lambda w: site_sweep(w.hook),
    output:
        table=f"{RESULTS}/directions/{{hook}}/{{position}}/illusion.csv",
        figure=report(f"{RESULTS}/directions/{{hook}}/{{position}}/illusion.png",
                      caption="../report/illusion.rst", category="Illusion checks",
                      subcategory="{hook}", labels={"site": "{hook}", "position": "{position}"}),
        figure_pdf=f"{RESULTS}/directions/{{hook}}/{{position}}/illusion.pdf",
    wildcard_constraints:
        position="final_name_token|final_token",
    params:
        model=model_argument,
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
        settings=as_json(config["directions"]["das"]),
        sports=json.dumps(config["directions"]["sports"]),
        pairs=config["directions"]["pairs"],
        test_fraction=config["directions"]["test_fraction"],
        sae=lambda w: site_sae(w.hook),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/check_directions/{{hook}}/{{position}}.log",
    benchmark:
        f"{WORK}/benchmarks/check_directions/{{hook}}/{{position}}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "python -m factlens check-directions --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype} --settings {params.settings:q}"
        " --prompts {input.prompts:q} --hook {wildcards.hook:q} --sports {params.sports:q}"
        " --pairs {params.pairs} --position {wildcards.position} --test-fraction {params.test_fraction}"
        " --sae={params.sae:q} --table {output.table:q} --figure {output.figure:q} 2> {log:q}"


rule summarise_directions:
    input:
        code("summarise_directions"),
        sites=rules.choose_illusion_sites.output.table,
        tables=lambda w: [path for path in direction_checks(w) if path.endswith(".csv")],
    output:
        summary=f"{RESULTS}/directions/summary.csv",
        families=f"{RESULTS}/directions/families.csv",
        figure=report(f"{RESULTS}/directions/sweep.png", caption="../report/sweep.rst",
                      category="Illusion checks"),
        figure_pdf=f"{RESULTS}/directions/sweep.pdf",
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/summarise_directions.log",
    benchmark:
        f"{WORK}/benchmarks/summarise_directions.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m factlens summarise-directions --sites {input.sites:q} --tables {input.tables:q}"
        " --table {output.summary:q} --families {output.families:q} --figure {output.figure:q}"
        " 2> {log:q}"
