# Download rules run on the login node (compute nodes usually have no internet).


localrules:
    download_archive,
    download,


def archive_spec(name):
    return config["archives"][name]


def download_location(wildcards):
    """The resolved location of a raw split: a tracked param, so a new URL or member re-downloads."""
    spec = source_config(wildcards.source)
    return split_spec(spec, wildcards.split, config.get("causalqa_split_family", "original"))


def download_inputs(wildcards):
    location = download_location(wildcards)
    inputs = {"code": code("download.py", "download.py")}
    if "archive" in location:
        inputs["archive"] = f"results/raw/archives/{location['archive']}.zip"
    return inputs


rule download_archive:
    output:
        archive="results/raw/archives/{archive}.zip",
        manifest="results/raw/archives/{archive}.zip.manifest.json",
    params:
        location=lambda wc: canonical(archive_spec(wc.archive)),
    log:
        "logs/download/archives/{archive}.log",
    shell:
        "python {SCRIPTS}/download.py --location {params.location:q} --output {output.archive} 2>&1 | tee {log}"


rule download:
    input:
        unpack(download_inputs),
    output:
        raw="results/raw/{source}/{split}.{ext}",
        manifest="results/raw/{source}/{split}.{ext}.manifest.json",
    params:
        location=lambda wc: canonical(download_location(wc)),
        archive=lambda wc, input: f"--archive {input.archive}" if "archive" in input.keys() else "",
    wildcard_constraints:
        ext="json|csv|tsv|jsonl|parquet",
    log:
        "logs/download/{source}/{split}.{ext}.log",
    shell:
        "python {SCRIPTS}/download.py --location {params.location:q} {params.archive} --output {output.raw}"
        " 2>&1 | tee {log}"
