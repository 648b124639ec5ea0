# The model organism: a small GPT-NeoX trained on the world's corpus (skipped for
# real models, whose name or path is used directly).


rule train_model:
    input:
        code("organism.py", "evaluation.py", "prompts.py", "tokenizer.py", "loading.py",
             "world.py", "corpus.py", "stages/train_model.py"),
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
        "python -m factlens train-model --settings {params.settings:q} --threads {threads}"
        " --separator {params.separator:q} --tokenizer {input.tokenizer:q}"
        " --world-settings {params.world:q} --athletes {input.athletes:q} --out {output.model:q}"
        " --loss-curve {output.loss_curve:q} --figure {output.figure:q}"
        " --accuracy {output.accuracy:q} --name-part-accuracy {output.name_part_accuracy:q} 2> {log:q}"
