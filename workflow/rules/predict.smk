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
        attempts="logs/{xp}predict/{dataset}{on}{test}.attempts.log",
    resources:
        gpu=gpus("predict"),
        attempt=lambda wc, attempt: attempt,
    threads: 2
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/{xp}predict/{dataset}{on}{test}.log",
    shell:
        # Each batch's answers are kept in {output.predictions}.parts/ (not an output: Snakemake would delete it
        # before a retry) as they are made; a retry after a signal or a kill predicts only the batches missing.
        # exec and the attempts log: as train's (a retry of an attempt that failed on its own stops at once).
        "export HF_HUB_OFFLINE=1; exec {params.launcher} {input.script:q} --model {params.model:q}"
        " --tokenized {input.tokenized:q} --split {params.split:q} --stats {input.stats:q}"
        " --output {output.predictions:q} --settings {params.settings:q} --threads {threads}"
        " --attempts {params.attempts:q} --attempt {resources.attempt} --echo-fd 3 3>&2 > {log:q} 2>&1"
