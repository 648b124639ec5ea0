# Fact prompts, left-padded with attention masks; padding check; known-fact filter.


rule prepare_prompts:
    input:
        code("prepare_prompts"),
        model=MODEL if ORGANISM else [],
        athletes=(rules.prepare_world.output.athletes if ORGANISM
                  else config["prompts"]["athletes_csv"]),
    output:
        prompts=f"{WORK}/prompts/fact_prompts.safetensors",
        scores=f"{RESULTS}/prompts/scores.csv",
        known=f"{RESULTS}/prompts/known_athletes.csv",
        padding_check=f"{RESULTS}/prompts/padding_check.json",
        by_sport=f"{RESULTS}/prompts/accuracy_by_sport.csv",
        by_length=f"{RESULTS}/prompts/accuracy_by_name_length.csv",
    params:
        model=model_argument,
        athletes_format="world" if ORGANISM else "csv",
        example=json.dumps(config["prompts"]["example"]),
        separator=json.dumps(config["prompts"]["separator"]),
        threshold=config["prompts"]["known_threshold"],
        tolerance=config["prompts"]["padding_tolerance"],
        batch_size=config["prompts"]["batch_size"],
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/prepare_prompts.log",
    benchmark:
        f"{WORK}/benchmarks/prepare_prompts.tsv"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m factlens prepare-prompts --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype}"
        " --athletes {input.athletes:q} --athletes-format {params.athletes_format}"
        " --example {params.example:q} --separator {params.separator:q}"
        " --threshold {params.threshold} --tolerance {params.tolerance}"
        " --batch-size {params.batch_size} --prompts {output.prompts:q}"
        " --scores {output.scores:q} --known {output.known:q}"
        " --padding-check {output.padding_check:q} --by-sport {output.by_sport:q}"
        " --by-length {output.by_length:q} 2> {log:q}"
