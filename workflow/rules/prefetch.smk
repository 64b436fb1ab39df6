# Everything a compute node would otherwise download: run on the login node (local rules).


localrules:
    prefetch,
    prefetch_hub,
    prefetch_archive_model,
    prefetch_dataset,


rule prefetch_hub:
    input:
        script=step_script("prefetch.py"),
        code=step_code("prefetch.py"),
    output:
        record="results/prefetch/{hub}{role}.json",
    params:
        name=lambda wc: HUB[wc.role][wc.hub],
    wildcard_constraints:
        role="model|tokenizer",
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/prefetch/{hub}{role}.log",
    shell:
        "python {input.script:q} --name {params.name:q} --output {output.record:q} > {log:q} 2>&1"


# A model that is a folder inside an archive (model.name_or_path: archive://NAME/FOLDER), extracted here; a folder
# without a tokenizer gets the experiment's model.tokenizer saved beside the weights.
rule prefetch_archive_model:
    input:
        archive=lambda wc: expand(rules.download_archive.output.archive, archive=declared_archive_model(wc)[0])[0],
        script=step_script("prefetch_archive_model.py"),
        code=step_code("prefetch_archive_model.py"),
    output:
        model=directory("results/prefetch/archive-models/{archive}/{member}"),
    params:
        tokenizer=lambda wc: declared_archive_model(wc)[2],
    wildcard_constraints:
        archive=r"[A-Za-z0-9_\-]+",
        # plain folder names, none starting with a dot (so no . or ..): the folder lies under its archive's
        member=r"[^./\\][^/\\]*(?:/[^./\\][^/\\]*)*",
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/prefetch/archive-models/{archive}/{member}.log",
    shell:
        "python {input.script:q} --archive {input.archive:q} --member {wildcards.member:q} --tokenizer {params.tokenizer:q}"
        " --output {output.model:q} > {log:q} 2>&1"


rule prefetch_dataset:
    input:
        lambda wc: dataset_raw_files(wc.dataset),
    output:
        listing="results/prefetch/datasets/{dataset}.txt",
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/prefetch/datasets/{dataset}.log",
    shell:
        "ls -l {input:q} > {output.listing:q} 2> {log:q}"


rule prefetch:
    input:
        expand(rules.prefetch_dataset.output.listing, dataset=config["default_datasets"]),
        [
            expand(rules.prefetch_hub.output.record, hub=hub, role=role)[0]
            for role, names in HUB.items()
            for hub in names
        ],
        list(ARCHIVE_MODELS),
