rule train:
    input:
        unpack(train_inputs),
    output:
        directory("results/models/{dataset}"),
    params:
        settings=lambda wc: canonical(config["train"]),
        model=lambda wc: model_location(wc.dataset),
        # Checkpoints are not an output: Snakemake would delete them before a rerun, and a rerun resumes.
        checkpoints="results/checkpoints/{dataset}",
        launcher=launcher,
    resources:
        gpu=1,
    threads: 2
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/train/{dataset}.log",
    shell:
        "HF_HUB_OFFLINE=1 {params.launcher} {input.script} --tokenized {input.tokenized} --model {params.model}"
        " --output {output} --checkpoints {params.checkpoints} --settings {params.settings:q}"
        " --dataloader-workers $(( {threads} > 1 ? {threads} - 1 : 0 )) 2>&1 | tee {log}"
