rule normalize:
    input:
        raw=lambda wc: raw_file(wc.source, wc.split),
        script=step_script("normalize.py"),
        code=step_code("normalize.py"),
    output:
        table="results/normalized/{source}/{split}.parquet",
        stats="results/normalized/{source}/{split}.stats.json",
    params:
        settings=lambda wc: canonical(normalize_settings(wc)),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/normalize/{source}/{split}.log",
    shell:
        "python {input.script:q} --input {input.raw:q} --output {output.table:q} --stats {output.stats:q}"
        " --settings {params.settings:q} > {log:q} 2>&1"
