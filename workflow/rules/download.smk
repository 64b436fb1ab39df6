# Download rules run on the login node (compute nodes usually have no internet).


localrules:
    download_archive,
    download,


rule download_archive:
    input:
        script=step_script("download.py"),
        code=step_code("download.py"),
    output:
        archive="results/raw/archives/{archive}.zip",
        manifest="results/raw/archives/{archive}.zip.manifest.json",
    params:
        # root only says where members lie inside it (t5qa.data.download.archive_member): not the download's business.
        location=lambda wc: canonical({k: v for k, v in config["archives"][wc.archive].items() if k != "root"}),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/download/archives/{archive}.log",
    shell:
        # The observed sha256 of an unpinned archive, and how to pin it, is shown on the terminal too.
        "python {input.script:q} --location {params.location:q} --output {output.archive:q}"
        " --config-key archives.{wildcards.archive:q} > {log:q} 2>&1; grep -h 'not pinned' {log:q} >&2 || true"


rule download:
    input:
        unpack(download_inputs),
    output:
        raw="results/raw/{source}/{split}.{ext}",
        manifest="results/raw/{source}/{split}.{ext}.manifest.json",
    params:
        location=lambda wc: canonical(download_location(wc)),
        archive=lambda wc, input: ["--archive", input.archive] if "archive" in input.keys() else [],
    wildcard_constraints:
        ext="|".join(sorted({fmt.extension for fmt in FORMATS.values()})),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/download/{source}/{split}.{ext}.log",
    shell:
        "python {input.script:q} --location {params.location:q} {params.archive:q} --output {output.raw:q}"
        " > {log:q} 2>&1"
