# The organism's world: athletes, corpora and the tokenizer.


rule prepare_world:
    input:
        code("prepare_world"),
    output:
        athletes=f"{WORK}/world/athletes.csv",
        train=f"{WORK}/world/corpus_train.txt",
        heldout=f"{WORK}/world/corpus_heldout.txt",
        tokenizer_corpus=f"{WORK}/world/corpus_tokenizer.txt",
        name_part_controls=f"{RESULTS}/data/name_part_controls.csv",
    params:
        settings=as_json(config["world"]),
        separator=json.dumps(config["prompts"]["separator"]),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/prepare_world.log",
    benchmark:
        f"{WORK}/benchmarks/prepare_world.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m factlens prepare-world --settings {params.settings:q}"
        " --separator {params.separator:q} --athletes {output.athletes:q}"
        " --train-corpus {output.train:q} --heldout-corpus {output.heldout:q}"
        " --tokenizer-corpus {output.tokenizer_corpus:q}"
        " --name-part-controls {output.name_part_controls:q} 2> {log:q}"


rule train_tokenizer:
    input:
        code("train_tokenizer"),
        corpus=rules.prepare_world.output.tokenizer_corpus,
        athletes=rules.prepare_world.output.athletes,
    output:
        tokenizer=directory(f"{WORK}/tokenizer"),
        name_lengths=f"{RESULTS}/data/name_token_lengths.csv",
    params:
        vocab_size=config["tokenizer"]["vocab_size"],
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/train_tokenizer.log",
    benchmark:
        f"{WORK}/benchmarks/train_tokenizer.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m factlens train-tokenizer --vocab-size {params.vocab_size}"
        " --corpus {input.corpus:q} --athletes {input.athletes:q}"
        " --out {output.tokenizer:q} --name-lengths {output.name_lengths:q} 2> {log:q}"
