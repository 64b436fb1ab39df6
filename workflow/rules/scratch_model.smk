# Offline stand-ins for a hub checkpoint (demo and tests): model.tokenizer / model.name_or_path = scratch.


rule scratch_tokenizer:
    input:
        tables=lambda wc: normalized(dataset_sources(wc.dataset), "train"),
        script=step_script("scratch_model.py"),
        code=step_code("scratch_model.py"),
    output:
        tokenizer=directory("results/scratch/{stok}{dataset}/tokenizer"),
    params:
        settings=step_settings(ScratchTokenizerSettings, SCRATCH_TOKENIZERS),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/scratch/{stok}{dataset}/tokenizer.log",
    shell:
        "python {input.script:q} tokenizer --texts {input.tables:q} --output {output.tokenizer:q}"
        " --settings {params.settings:q} > {log:q} 2>&1"


rule scratch_model:
    input:
        tokenizer=lambda wc: tokenizer_location(SCRATCH_MODELS[wc.mod], wc.dataset),
        script=step_script("scratch_model.py"),
        code=step_code("scratch_model.py"),
    output:
        model=directory("results/scratch/{mod}{dataset}/model"),
    params:
        settings=step_settings(ScratchModelSettings, SCRATCH_MODELS),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/scratch/{mod}{dataset}/model.log",
    shell:
        "python {input.script:q} model --tokenizer {input.tokenizer:q} --output {output.model:q}"
        " --settings {params.settings:q} > {log:q} 2>&1"
