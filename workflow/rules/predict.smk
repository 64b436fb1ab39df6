rule predict:
    input:
        unpack(predict_inputs),
    output:
        predictions="results/{xp}predictions/{dataset}{on}{test}.jsonl",
    params:
        settings=step_settings(PredictSettings),
        model=predict_model,
        model_files=starting_model_files,
        split=evaluated_split,
        launcher=launcher("predict"),
        accelerate_config=accelerate_config("predict"),
    resources:
        gpu=gpus("predict"),
    threads: 2
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/{xp}predict/{dataset}{on}{test}.log",
    shell:
        "export HF_HUB_OFFLINE=1; exec {params.launcher} {input.script:q} --model {params.model:q}"
        " --tokenized {input.tokenized:q} --split {params.split:q} --stats {input.stats:q} --output {output.predictions:q}"
        " --settings {params.settings:q} --threads {threads} --echo-fd 3 3>&2 > {log:q} 2>&1"
