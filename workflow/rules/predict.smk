rule predict:
    input:
        model=rules.train.output.model,
        tokenized=rules.tokenize_data.output.data,
        stats=rules.tokenize_data.output.stats,
        script=step_script("predict.py"),
        modules=modules("predict.py", "features.py", "text.py", "settings.py"),
    output:
        predictions="results/predictions/{dataset}.jsonl",
    params:
        settings=step_settings(PredictSettings),
        launcher=launcher,
    resources:
        gpu=1,
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/predict/{dataset}.log",
    shell:
        "export HF_HUB_OFFLINE=1; exec {params.launcher} {input.script} --model {input.model}"
        " --tokenized {input.tokenized} --stats {input.stats} --output {output.predictions}"
        " --settings {params.settings:q} > {log} 2>&1"
