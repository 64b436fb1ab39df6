rule predict:
    input:
        model="results/models/{dataset}",
        tokenized="results/tokenized/{dataset}",
        stats="results/tokenized/{dataset}.stats.json",
        script=script("predict.py"),
        modules=modules("predicting.py", "features.py", "text.py"),
    output:
        "results/predictions/{dataset}.jsonl",
    params:
        settings=lambda wc: canonical(
            {**config["predict"], "unanswerable_target": config["tokenize"]["unanswerable_target"]}
        ),
        launcher=launcher,
    resources:
        gpu=1,
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/predict/{dataset}.log",
    shell:
        "export HF_HUB_OFFLINE=1; exec {params.launcher} {input.script} --model {input.model} --tokenized {input.tokenized}"
        " --stats {input.stats} --output {output} --settings {params.settings:q} > {log} 2>&1"
