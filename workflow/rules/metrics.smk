rule metrics:
    input:
        predictions=rules.predict.output.predictions,
        validation=lambda wc: normalized(dataset_sources(wc.dataset), "validation"),
        train=lambda wc: normalized(dataset_sources(wc.dataset), "train"),
        script=step_script("metrics.py"),
        modules=modules("metrics.py", "scoring.py", "text.py", "manifest.py"),
    output:
        metrics="results/metrics/{dataset}.json",
        manifest="results/metrics/{dataset}.manifest.json",
    params:
        references=lambda wc: named_tables(dataset_sources(wc.dataset), "validation"),
        model=config["model"]["name_or_path"],
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/metrics/{dataset}.log",
    shell:
        "python {input.script} --predictions {input.predictions} --references {params.references}"
        " --train-references {input.train} --output {output.metrics} --manifest {output.manifest}"
        " --dataset-name {wildcards.dataset} --model-name {params.model} > {log} 2>&1"
