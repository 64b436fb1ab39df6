# Offline stand-ins for a hub checkpoint (demo and tests): model.tokenizer / model.name_or_path = scratch.


rule scratch_tokenizer:
    input:
        tables=lambda wc: normalized(dataset_sources(wc.dataset), "train"),
        script=script("scratch_model.py"),
        modules=modules("scratch_model.py", "features.py", "text.py"),
    output:
        directory("results/scratch/{dataset}/tokenizer"),
    params:
        settings=lambda wc: canonical(
            {
                "vocab_size": config["model"]["scratch"]["vocab_size"],
                "seed": config["model"]["scratch"]["seed"],
                "unanswerable_target": config["tokenize"]["unanswerable_target"],
            }
        ),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/scratch/{dataset}/tokenizer.log",
    shell:
        "python {input.script} tokenizer --texts {input.tables} --output {output}"
        " --settings {params.settings:q} > {log} 2>&1"


rule scratch_model:
    input:
        tokenizer="results/scratch/{dataset}/tokenizer",
        script=script("scratch_model.py"),
        modules=modules("scratch_model.py", "features.py", "text.py"),
    output:
        directory("results/scratch/{dataset}/model"),
    params:
        settings=lambda wc: canonical(
            {
                "architecture": config["model"]["scratch"]["architecture"],
                "seed": config["model"]["scratch"]["seed"],
            }
        ),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/scratch/{dataset}/model.log",
    shell:
        "python {input.script} model --tokenizer {input.tokenizer} --output {output}"
        " --settings {params.settings:q} > {log} 2>&1"
