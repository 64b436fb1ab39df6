# Offline stand-ins for a hub checkpoint (demo and tests): model.tokenizer / model.name_or_path = scratch.


rule scratch_tokenizer:
    input:
        tables=lambda wc: normalized(dataset_sources(wc.dataset), "train"),
        code=code("scratch_model.py", "scratch_model.py"),
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
    log:
        "logs/scratch/{dataset}/tokenizer.log",
    shell:
        "python {SCRIPTS}/scratch_model.py tokenizer --texts {input.tables} --output {output}"
        " --settings {params.settings:q} 2>&1 | tee {log}"


rule scratch_model:
    input:
        tokenizer="results/scratch/{dataset}/tokenizer",
        code=code("scratch_model.py", "scratch_model.py"),
    output:
        directory("results/scratch/{dataset}/model"),
    params:
        settings=lambda wc: canonical(
            {
                "architecture": config["model"]["scratch"]["architecture"],
                "seed": config["model"]["scratch"]["seed"],
            }
        ),
    log:
        "logs/scratch/{dataset}/model.log",
    shell:
        "python {SCRIPTS}/scratch_model.py model --tokenizer {input.tokenizer} --output {output}"
        " --settings {params.settings:q} 2>&1 | tee {log}"
