def train_inputs(wildcards):
    inputs = {
        "tokenized": f"results/tokenized/{wildcards.dataset}",
        "code": code("train.py", "training.py"),
    }
    if is_scratch("name_or_path"):
        inputs["model"] = model_location(wildcards.dataset)
    return inputs


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
    log:
        "logs/train/{dataset}.log",
    shell:
        "{params.launcher} {SCRIPTS}/train.py --tokenized {input.tokenized} --model {params.model}"
        " --output {output} --checkpoints {params.checkpoints} --settings {params.settings:q}"
        " --dataloader-workers $(( {threads} > 1 ? {threads} - 1 : 0 )) 2>&1 | tee {log}"
