# Gradient attributions vs activation patching through a ReLU and a JumpReLU SAE.

ATTRIBUTION = config["attribution"]
UPSTREAM_SAE = sae_dir(ATTRIBUTION["upstream"]["hook"], ATTRIBUTION["upstream"]["architecture"],
                       ATTRIBUTION["upstream"]["coefficient"])
DOWNSTREAM_SAES = {
    "ReLU": sae_dir(ATTRIBUTION["downstream"]["hook"], "standard", ATTRIBUTION["downstream"]["relu"]),
    "JumpReLU": sae_dir(ATTRIBUTION["downstream"]["hook"], "jumprelu",
                        ATTRIBUTION["downstream"]["jumprelu"]),
}

for label, (hook, arch, coefficient) in {
    "attribution.upstream": (ATTRIBUTION["upstream"]["hook"], ATTRIBUTION["upstream"]["architecture"],
                             ATTRIBUTION["upstream"]["coefficient"]),
    "attribution.downstream.relu": (ATTRIBUTION["downstream"]["hook"], "standard",
                                    ATTRIBUTION["downstream"]["relu"]),
    "attribution.downstream.jumprelu": (ATTRIBUTION["downstream"]["hook"], "jumprelu",
                                        ATTRIBUTION["downstream"]["jumprelu"]),
}.items():
    if (hook, arch, coefficient) not in sweep_points():
        raise ValueError(f"{label}: no {arch} SAE with coefficient {coefficient} at {hook} in "
                         "sae.sites; add it to that site's sweep")


rule attribute_latents:
    input:
        code("attribute_latents"),
        prompts=PROMPTS,
        model=MODEL if ORGANISM else [],
        saes=[str(Path(sae).parent) for sae in (UPSTREAM_SAE, *DOWNSTREAM_SAES.values())],
    output:
        estimates=f"{RESULTS}/attribution/estimates.csv",
        totals=f"{RESULTS}/attribution/totals.csv",
        comparison=f"{RESULTS}/attribution/comparison.csv",
        figure=report(f"{RESULTS}/attribution/scatter.png", caption="../report/attribution.rst",
                      category="Attribution"),
        figure_pdf=f"{RESULTS}/attribution/scatter.pdf",
    params:
        model=model_argument,
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
        up_hook=ATTRIBUTION["upstream"]["hook"],
        up_sae=UPSTREAM_SAE,
        down_hook=ATTRIBUTION["downstream"]["hook"],
        down_saes=json.dumps(DOWNSTREAM_SAES),
        pairs=ATTRIBUTION["pairs"],
        top=ATTRIBUTION["top_latents"],
        random=ATTRIBUTION["random_latents"],
        seed=ATTRIBUTION["seed"],
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/attribute_latents.log",
    benchmark:
        f"{WORK}/benchmarks/attribute_latents.tsv"
    threads: config["threads"]
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "python -m factlens attribute-latents --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype} --prompts {input.prompts:q}"
        " --up-hook {params.up_hook:q} --up-sae {params.up_sae:q} --down-hook {params.down_hook:q}"
        " --down-saes {params.down_saes:q} --pairs {params.pairs} --top {params.top}"
        " --random {params.random} --seed {params.seed} --estimates {output.estimates:q}"
        " --totals {output.totals:q}"
        " --comparison {output.comparison:q} --figure {output.figure:q} 2> {log:q}"
