# Offline stand-ins for a hub checkpoint (demo and tests): model.tokenizer / model.name_or_path = scratch.


rule scratch_tokenizer:
    input:
        tables=lambda wc: normalized(dataset_sources(wc.dataset), "train"),
        script=step_script("scratch_model.py"),
        modules=modules("scratch_model.py", "features.py", "text.py", "settings.py"),
    output:
        tokenizer=directory("results/scratch/{dataset}/tokenizer"),
    params:
        settings=step_settings(ScratchTokenizerSettings),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/scratch/{dataset}/tokenizer.log",
    shell:
        "python {input.script} tokenizer --texts {input.tables} --output {output.tokenizer}"
        " --settings {params.settings:q} > {log} 2>&1"


rule scratch_model:
    input:
        tokenizer=rules.scratch_tokenizer.output.tokenizer,
        script=step_script("scratch_model.py"),
        modules=modules("scratch_model.py", "features.py", "text.py", "settings.py"),
    output:
        model=directory("results/scratch/{dataset}/model"),
    params:
        settings=step_settings(ScratchModelSettings),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/scratch/{dataset}/model.log",
    shell:
        "python {input.script} model --tokenizer {input.tokenizer} --output {output.model}"
        " --settings {params.settings:q} > {log} 2>&1"
