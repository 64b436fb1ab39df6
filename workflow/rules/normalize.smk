rule normalize:
    input:
        raw=lambda wc: raw_file(wc.source, wc.split),
        script=script("normalize.py"),
        modules=modules("normalize.py", "text.py"),
    output:
        table="results/normalized/{source}/{split}.parquet",
        stats="results/normalized/{source}/{split}.stats.json",
    params:
        settings=lambda wc: canonical(normalize_settings(wc)),
        flags=normalize_flags,
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/normalize/{source}/{split}.log",
    shell:
        "python {input.script} {params.flags} --input {input.raw}"
        " --output {output.table} --stats {output.stats} > {log} 2>&1"
