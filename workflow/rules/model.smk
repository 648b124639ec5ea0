# The model organism: a small GPT-NeoX trained on the world's corpus (skipped for
# real models, whose name or path is used directly). With `model.checkpoint` (an
# archived organism's folder) the same outputs come from that checkpoint instead of
# training, after it is checked against the config (docs/reliability.md).

CHECKPOINT = config["model"]["checkpoint"]
if CHECKPOINT and not ORGANISM:
    raise ValueError("model.checkpoint is an archived organism's folder: it needs model.name: organism")
LOAD_ORGANISM = (
    f"python -m factlens load-organism --checkpoint {shlex.quote(str(CHECKPOINT))}"
    " --settings {params.settings:q} --threads {threads}"
    " --separator {params.separator:q} --tokenizer {input.tokenizer:q} --athletes {input.athletes:q}"
    " --out {output.model:q} --loss-curve {output.loss_curve:q} --figure {output.figure:q}"
    " --accuracy {output.accuracy:q} --name-part-accuracy {output.name_part_accuracy:q} 2> {log:q}")


rule train_model:
    input:
        code("load_organism" if CHECKPOINT else "train_model"),
        [f"{CHECKPOINT}/{name}" for name in CHECKPOINT_FILES] if CHECKPOINT else [],
        tokenizer=rules.train_tokenizer.output.tokenizer,
        athletes=rules.prepare_world.output.athletes,
    output:
        model=directory(f"{WORK}/model"),
        loss_curve=f"{RESULTS}/model/loss_curve.csv",
        figure=report(f"{RESULTS}/model/training.png", caption="../report/training.rst",
                      category="Model organism"),
        figure_pdf=f"{RESULTS}/model/training.pdf",
        accuracy=f"{RESULTS}/model/accuracy.json",
        name_part_accuracy=f"{RESULTS}/model/name_part_accuracy.csv",
    params:
        settings=as_json(config["model"]["organism"]),
        world=as_json(config["world"]),
        separator=json.dumps(config["prompts"]["separator"]),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/train_model.log",
    benchmark:
        f"{WORK}/benchmarks/train_model.tsv"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        LOAD_ORGANISM if CHECKPOINT else
        "python -m factlens train-model --settings {params.settings:q} --threads {threads}"
        " --separator {params.separator:q} --tokenizer {input.tokenizer:q}"
        " --world-settings {params.world:q} --athletes {input.athletes:q} --out {output.model:q}"
        " --loss-curve {output.loss_curve:q} --figure {output.figure:q}"
        " --accuracy {output.accuracy:q} --name-part-accuracy {output.name_part_accuracy:q} 2> {log:q}"


rule archive_checkpoint:
    input:
        code("archive_checkpoint"),
        model=rules.train_model.output.model,
        loss_curve=rules.train_model.output.loss_curve,
    output:
        [f"{RESULTS}/model/checkpoint/{name}" for name in CHECKPOINT_FILES],
    params:
        out=lambda w, output: folder(output[0]),
    conda:
        CONDA_ENV
    log:
        f"{WORK}/logs/archive_checkpoint.log",
    benchmark:
        f"{WORK}/benchmarks/archive_checkpoint.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m factlens archive-checkpoint --model {input.model:q} --loss-curve {input.loss_curve:q}"
        " --out {params.out:q} 2> {log:q}"
