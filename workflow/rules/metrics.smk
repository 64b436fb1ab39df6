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
        "python {input.script:q} --predictions {input.predictions:q} --references {params.references:q}"
        " --train-references {input.train:q} --output {output.metrics:q} --manifest {output.manifest:q}"
        " --questions {output.questions:q}"
        " --dataset-name {wildcards.dataset:q}{wildcards.on:q}{wildcards.test:q} --model-name {params.model:q} > {log:q} 2>&1"
