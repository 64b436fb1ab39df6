rule train:
    input:
        unpack(train_inputs),
    output:
        model=directory("results/{xp}models/{dataset}"),
    params:
        settings=step_settings(TrainSettings),
        model=lambda wc: model_location(experiment(wc), wc.dataset),
        model_files=starting_model_files,
        # Checkpoints are not an output: Snakemake would delete them before a rerun, and a rerun resumes.
        checkpoints="results/{xp}checkpoints/{dataset}",
        attempts="logs/{xp}train/{dataset}.attempts.log",
        launcher=launcher("train"),
        accelerate_config=accelerate_config("train"),
    resources:
        gpu=gpus("train"),
        # Snakemake's attempt number (1, then 2, 3 for its retries): a retry of an attempt that failed on its own
        # (out of memory, a traceback) stops at once with that error; attempt 1, a new run, always starts.
        attempt=lambda wc, attempt: attempt,
    threads: 2
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/{xp}train/{dataset}.log",
    shell:
        # exec: the trainer replaces the shell, so a SIGTERM from Slurm (sent to every process of the job step)
        # cannot kill a shell or a log pipe under it; the trainer saves a checkpoint and exits 143.
        # Snakemake deletes {log} before each attempt: the attempts file keeps one line per decision of every attempt
        # (start, stop at a signal, resume, failure, refusal).
        # 3>&2: the step's own lines (progress, losses) also reach the terminal, or the Slurm job's output.
        "export HF_HUB_OFFLINE=1; exec {params.launcher} {input.script:q} --tokenized {input.tokenized:q} --stats {input.stats:q}"
        " --model {params.model:q} --output {output.model:q} --checkpoints {params.checkpoints:q}"
        " --settings {params.settings:q} --threads {threads} --dataloader-workers $(( {threads} > 1 ? {threads} - 1 : 0 ))"
        " --attempts {params.attempts:q} --attempt {resources.attempt} --echo-fd 3 3>&2 > {log:q} 2>&1"
