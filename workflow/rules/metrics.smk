rule metrics:
    input:
        predictions=rules.predict.output.predictions,
        references=lambda wc: normalized(dataset_sources(evaluated_dataset(wc)), evaluated_split(wc)),
        train=lambda wc: normalized(dataset_sources(wc.dataset), "train"),
        script=step_script("metrics.py"),
        code=step_code("metrics.py"),
    output:
        metrics="results/{xp}metrics/{dataset}{on}{test}.json",
        manifest="results/{xp}metrics/{dataset}{on}{test}.manifest.json",
        # Every question with its gold, prediction and F1, worst first: where to read the model's errors.
        questions="results/{xp}metrics/{dataset}{on}{test}.questions.csv",
    params:
        references=lambda wc: named_tables(dataset_sources(evaluated_dataset(wc)), evaluated_split(wc)),
        model=lambda wc: experiment(wc)["settings"]["model"]["name_or_path"],
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/{xp}metrics/{dataset}{on}{test}.log",
    shell:
        # --dataset-name: the dataset scored; the baselines' most frequent answer comes from the training data.
        "python {input.script} --predictions {input.predictions} --references {params.references}"
        " --train-references {input.train} --output {output.metrics} --manifest {output.manifest}"
        " --questions {output.questions}"
        " --dataset-name {wildcards.dataset}{wildcards.on}{wildcards.test} --model-name {params.model} > {log} 2>&1"
