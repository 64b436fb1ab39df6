# What `snakemake --report report.html` shows: each dataset's page (scores, normalisation and tokenization stats)
# and its training curves. Both are ordinary outputs too: a report needs nothing rebuilt.


rule plot_training:
    input:
        model=rules.train.output.model,
        script=step_script("plot_training.py"),
        modules=modules("plot_training.py"),
    output:
        plot=report(
            "results/plots/{dataset}.training.png",
            caption="../report/training_curves.rst",
            category="Training",
            labels={"dataset": "{dataset}", "figure": "training curves"},
        ),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/plot_training/{dataset}.log",
    shell:
        "python {input.script} --log-history {input.model}/log_history.json --output {output.plot}"
        " --title {wildcards.dataset:q} > {log} 2>&1"


rule report_page:
    input:
        metrics=rules.metrics.output.metrics,
        normalize_stats=lambda wc: normalize_stats(dataset_sources(wc.dataset)),
        tokenize_stats=rules.tokenize_data.output.stats,
        script=step_script("report_page.py"),
        modules=modules("report_page.py"),
    output:
        page=report(
            "results/report/{dataset}.html",
            caption="../report/report_page.rst",
            category="Results",
            labels={"dataset": "{dataset}", "figure": "scores and data"},
        ),
    params:
        normalize_stats=lambda wc: named_stats(dataset_sources(wc.dataset)),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/report_page/{dataset}.log",
    shell:
        "python {input.script} --dataset {wildcards.dataset} --metrics {input.metrics}"
        " --normalize-stats {params.normalize_stats} --tokenize-stats {input.tokenize_stats}"
        " --output {output.page} > {log} 2>&1"
