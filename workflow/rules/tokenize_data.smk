rule tokenize_data:
    input:
        unpack(tokenize_data_inputs),
    output:
        data=directory("results/tokenized/{dataset}"),
        stats="results/tokenized/{dataset}.stats.json",
    params:
        settings=step_settings(TokenizeSettings),
        tokenizer=lambda wc: tokenizer_location(wc.dataset),
        train=lambda wc: named_tables(dataset_sources(wc.dataset), "train"),
        validation=lambda wc: named_tables(dataset_sources(wc.dataset), "validation"),
    threads: 1
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/tokenize_data/{dataset}.log",
    shell:
        "HF_HUB_OFFLINE=1 python {input.script} --tokenizer {params.tokenizer} --train {params.train}"
        " --validation {params.validation} --output {output.data} --stats {output.stats}"
        " --settings {params.settings:q} --num-proc {threads} > {log} 2>&1"
