# Activation caching: every SAE site's hook, over the training corpus and the
# held-out corpus, in one forward pass per split.


rule cache_activations:
    input:
        code("cache_activations"),
        model=MODEL if ORGANISM else [],
        corpus=lambda w: corpus_input(w.split),
    output:
        [f"{store('{split}', hook)}/manifest.json" for hook in SITES],
    wildcard_constraints:
        split="train|heldout",
    params:
        model=model_argument,
        corpus=lambda w, input: corpus_flags(w.split)(w, input),
        hooks=json.dumps(list(SITES)),
        stores=lambda w: json.dumps([store(w.split, hook) for hook in SITES]),
        max_tokens=lambda w: SPLIT_TOKENS[w.split],
        context_length=config["activations"]["context_length"],
        shard_tokens=config["activations"]["shard_tokens"],
        storage_dtype=config["activations"]["storage_dtype"],
        batch_rows=config["activations"]["batch_rows"],
        device=config["model"]["device"],
        dtype=config["model"]["dtype"],
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/cache_activations/{{split}}.log",
    benchmark:
        f"{WORK}/benchmarks/cache_activations/{{split}}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m factlens cache-activations --model {params.model:q} --threads {threads}"
        " --device {params.device} --dtype {params.dtype} --hooks {params.hooks:q}"
        " --stores {params.stores:q} {params.corpus}"
        " --context-length {params.context_length} --max-tokens {params.max_tokens}"
        " --shard-tokens {params.shard_tokens} --storage-dtype {params.storage_dtype}"
        " --batch-rows {params.batch_rows} 2> {log:q}"
