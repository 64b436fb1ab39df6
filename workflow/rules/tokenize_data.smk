rule tokenize_data:
    input:
        unpack(tokenize_data_inputs),
    output:
        data=directory("results/tokenized/{tok}{dataset}{by}{test}"),
        stats="results/tokenized/{tok}{dataset}{by}{test}.stats.json",
    params:
        settings=step_settings(TokenizeSettings, TOKENIZATIONS),
        tokenizer=lambda wc: tokenizer_location(TOKENIZATIONS[wc.tok], tokenizer_dataset(wc)),
        tables=tables_arguments,
    threads: 1
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/tokenize_data/{tok}{dataset}{by}{test}.log",
    shell:
        "HF_HUB_OFFLINE=1 python {input.script:q} --tokenizer {params.tokenizer:q} {params.tables:q}"
        " --output {output.data:q} --stats {output.stats:q}"
        " --settings {params.settings:q} --num-proc {threads} > {log:q} 2>&1"
