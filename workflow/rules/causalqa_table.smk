# The Webis-CausalQA-22 fine-tuning table (config/causalqa_table.yaml; docs/causalqa.md): every cell's metrics file.

from t5qa.causalqa_table import check_table, table_cells


def experiment_metrics(name, dataset):
    """An experiment's metrics file on its own dataset's validation split."""
    return expand(rules.metrics.output.metrics, xp=experiment_prefix(name), dataset=dataset, on="", test="")[0]


def causalqa_table_cells():
    table = config["causalqa_table"]
    problems = check_table(table, EXPERIMENTS, config["datasets"])
    if problems:
        raise WorkflowError("\n".join(problems))
    return table_cells(table, experiment_metrics)


rule causalqa_table:
    input:
        metrics=lambda wc: sorted({path for files in causalqa_table_cells().values() for path in files.values()}),
        script=step_script("causalqa_table.py"),
        code=step_code("causalqa_table.py"),
    output:
        csv=report(
            "results/causalqa_table.csv",
            caption="../report/causalqa_table.rst",
            category="Comparison",
            labels={"table": "Webis-CausalQA-22 fine-tuning table"},
        ),
        markdown="results/causalqa_table.md",
    params:
        cells=lambda wc: canonical(causalqa_table_cells()),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/causalqa_table.log",
    shell:
        "python {input.script} --cells {params.cells:q} --csv {output.csv} --markdown {output.markdown} > {log} 2>&1"
