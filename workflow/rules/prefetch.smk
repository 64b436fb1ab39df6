# Everything a compute node would otherwise download: run on the login node (local rules).


localrules:
    prefetch,
    prefetch_hub,
    prefetch_dataset,


rule prefetch_hub:
    input:
        script=step_script("prefetch.py"),
    output:
        "results/prefetch/{role}.json",
    params:
        name=lambda wc: config["model"]["tokenizer" if wc.role == "tokenizer" else "name_or_path"],
    wildcard_constraints:
        role="model|tokenizer",
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/prefetch/{role}.log",
    shell:
        "python {input.script} --name {params.name} --output {output} > {log} 2>&1"


rule prefetch_dataset:
    input:
        lambda wc: dataset_raw_files(wc.dataset),
    output:
        "results/prefetch/datasets/{dataset}.txt",
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/prefetch/datasets/{dataset}.log",
    shell:
        "ls -l {input} > {output} 2> {log}"


rule prefetch:
    input:
        expand("results/prefetch/datasets/{dataset}.txt", dataset=config["default_datasets"]),
        "results/prefetch/model.json",
        "results/prefetch/tokenizer.json",
