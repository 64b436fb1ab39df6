rule predict:
    input:
        model="results/models/{dataset}",
        tokenized="results/tokenized/{dataset}",
        stats="results/tokenized/{dataset}.stats.json",
        code=code("predict.py", "predicting.py", "features.py"),
    output:
        "results/predictions/{dataset}.jsonl",
    params:
        settings=lambda wc: canonical(
            {**config["predict"], "unanswerable_target": config["tokenize"]["unanswerable_target"]}
        ),
        launcher=launcher,
    resources:
        gpu=1,
    log:
        "logs/predict/{dataset}.log",
    shell:
        "{params.launcher} {SCRIPTS}/predict.py --model {input.model} --tokenized {input.tokenized}"
        " --stats {input.stats} --output {output} --settings {params.settings:q} 2>&1 | tee {log}"
