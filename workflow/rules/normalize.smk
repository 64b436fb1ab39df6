def normalize_settings(wildcards):
    """Everything that shapes a source's table: a change reruns that source's chain only."""
    spec = source_config(wildcards.source)
    location = split_spec(spec, wildcards.split)
    settings = {
        "format": spec["format"],
        "columns": spec.get("columns", {}),
        "strict": spec.get("strict", False),
    }
    if "carved_from" in location:
        settings["holdout"] = {"fraction": location["fraction"], "part": wildcards.split}
    elif "validation" not in spec:
        settings["holdout"] = {"fraction": spec.get("validation_fraction", 0.1), "part": "train"}
    return settings


def normalize_flags(wildcards):
    settings = normalize_settings(wildcards)
    flags = f"--format {settings['format']} --columns {json.dumps(settings['columns'])!r}"
    if settings["strict"]:
        flags += " --strict"
    if "holdout" in settings:
        flags += f" --holdout-fraction {settings['holdout']['fraction']} --holdout-part {settings['holdout']['part']}"
    return flags


rule normalize:
    input:
        raw=lambda wc: raw_file(wc.source, wc.split),
        code=code("normalize.py", "normalize.py", "text.py"),
    output:
        table="results/normalized/{source}/{split}.parquet",
        stats="results/normalized/{source}/{split}.stats.json",
    params:
        settings=lambda wc: canonical(normalize_settings(wc)),
        flags=normalize_flags,
    log:
        "logs/normalize/{source}/{split}.log",
    shell:
        "python {SCRIPTS}/normalize.py {params.flags} --input {input.raw}"
        " --output {output.table} --stats {output.stats} 2>&1 | tee {log}"
