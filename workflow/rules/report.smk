# What `snakemake --report report.html` shows: each dataset's page (scores, normalisation and tokenization stats)
# and its training curves, every experiment's. Both are ordinary outputs too: a report needs nothing rebuilt. Their
# labels are the columns of the report's lists; a page's EM and F1 are read at report time, so the landing page
# (workflow/report/workflow.rst) can show them.

from t5qa.report.report_labels import score_labels


rule plot_training:
    input:
        model=lambda wc: trained_model(experiment(wc), wc.dataset),
        script=step_script("plot_training.py"),
        code=step_code("plot_training.py"),
    output:
        plot=report(
            "results/{xp}plots/{dataset}.training.png",
            caption="../report/training_curves.rst",
            category="Training",
            labels=lambda wc: {"experiment": experiment_name(wc), "dataset": wc.dataset, "figure": "training curves"},
        ),
    params:
        title=lambda wc: f"{wc.dataset} ({experiment_name(wc)})" if wc.xp else wc.dataset,
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/{xp}plot_training/{dataset}.log",
    shell:
        "python {input.script:q} --log-history {input.model:q}/log_history.json --output {output.plot:q}"
        " --title {params.title:q} > {log:q} 2>&1"


rule report_page:
    input:
        metrics=lambda wc: expand(rules.metrics.output.metrics, xp=wc.xp, dataset=wc.dataset, on="", test="")[0],
        normalize_stats=lambda wc: normalize_stats(dataset_sources(wc.dataset)),
        tokenize_stats=lambda wc: tokenized(experiment(wc), wc.dataset)["stats"],
        script=step_script("report_page.py"),
        code=step_code("report_page.py"),
    output:
        page=report(
            "results/{xp}report/{dataset}.html",
            caption="../report/report_page.rst",
            category="Results",
            labels=lambda wc, input: score_labels(input.metrics, experiment_name(wc), wc.dataset),
        ),
    params:
        normalize_stats=lambda wc: named_stats(dataset_sources(wc.dataset)),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/{xp}report_page/{dataset}.log",
    shell:
        "python {input.script:q} --dataset {wildcards.dataset:q} --metrics {input.metrics:q}"
        " --normalize-stats {params.normalize_stats:q} --tokenize-stats {input.tokenize_stats:q}"
        " --output {output.page:q} > {log:q} 2>&1"
