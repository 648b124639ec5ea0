# Learned directions and the interpretability-illusion check, one job per site.


rule check_directions:
    input:
        code("das.py", "illusion.py", "subspace.py", "prompts.py", "loading.py", "tokenizer.py",
             "world.py", "sae/__init__.py", "sae/base.py", "sae/saving.py",
             "stages/check_directions.py"),
        prompts=PROMPTS,
        model=MODEL if ORGANISM else [],
        sae=lambda w: [f"{site_sae(w.hook)}/sae_weights.safetensors"] if site_sae(w.hook) else [],
    output:
        table=f"{RESULTS}/directions/{{hook}}/illusion.csv",
        figure=report(f"{RESULTS}/directions/{{hook}}/illusion.png", caption="../report/illusion.rst",
                      category="Illusion checks", labels={"site": "{hook}"}),
        figure_pdf=f"{RESULTS}/directions/{{hook}}/illusion.pdf",
    params:
        model=MODEL,
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
        settings=as_json(config["directions"]["das"]),
        sports=json.dumps(config["directions"]["sports"]),
        pairs=config["directions"]["pairs"],
        position=config["directions"]["position"],
        test_fraction=config["directions"]["test_fraction"],
        sae=lambda w: site_sae(w.hook),
    log:
        f"{WORK}/logs/check_directions/{{hook}}.log",
    benchmark:
        f"{WORK}/benchmarks/check_directions/{{hook}}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "python -m factlens check-directions --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype} --settings {params.settings:q}"
        " --prompts {input.prompts:q} --hook {wildcards.hook:q} --sports {params.sports:q}"
        " --pairs {params.pairs} --position {params.position:q} --test-fraction {params.test_fraction}"
        " --sae={params.sae:q} --table {output.table:q} --figure {output.figure:q} 2> {log:q}"
