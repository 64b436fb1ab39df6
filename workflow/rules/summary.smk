# One comparison table over every (experiment, trained-on, evaluated-on) the config declares (`evaluations`), with
# the settings that set the experiments apart as columns. Each config's table keeps its own name
# (results/summary/<name>.*: the groups it compares and a hash of its rows), so that the next config does not
# overwrite it; results/summary.{csv,md} are the latest one written. The report shows it as a sortable page.

from t5qa.experiments import experiment_prefix, summary_name, varied_settings

SUMMARY_SETTINGS = varied_settings(EXPERIMENTS, list(dict.fromkeys(run["experiment"] for run in EVALUATIONS)))
SUMMARY_RUNS = [
    {**run, "metrics": run_metrics(run), "settings": SUMMARY_SETTINGS[run["experiment"]]} for run in EVALUATIONS
]
SUMMARY_NAME = summary_name(SUMMARY_RUNS, EXPERIMENTS)


def summary_curves():
    """The training curves of every model the comparison trains (in the report beside the table)."""
    curves = {
        expand(
            rules.plot_training.output.plot, xp=experiment_prefix(run["experiment"]), dataset=run["trained_on"]
        )[0]: None
        for run in EVALUATIONS
        if EXPERIMENTS[run["experiment"]]["finetune"]
    }
    return list(curves)


def summary_labels(wildcards, input):
    """The report's labels of the comparison: its name and its best F1 (read at report time)."""
    import csv

    with open(input.csv, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # A mean row speaks for its seeds: the best of the groups' rows, a seed row only where no mean stands for it.
    candidates = [row for row in rows if row["f1_std"] or not row["seed"]] or rows
    best = max(candidates, key=lambda row: float(row["f1"]))
    spread = f" ± {float(best['f1_std']):.2f}" if best["f1_std"] else ""
    return {
        "comparison": SUMMARY_NAME,
        "rows": len(rows),
        "best F1": f"{float(best['f1']):.2f}{spread}",
        "best": f"{best['group']} on {best['evaluated_on']}",
    }


rule summary:
    input:
        metrics=[run["metrics"] for run in SUMMARY_RUNS],
        script=step_script("summary.py"),
        code=step_code("summary.py"),
    output:
        csv="results/summary.csv",
        markdown="results/summary.md",
        named_csv=f"results/summary/{SUMMARY_NAME}.csv",
        named_markdown=f"results/summary/{SUMMARY_NAME}.md",
    params:
        runs=canonical(SUMMARY_RUNS),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/summary.log",
    shell:
        "python {input.script} --runs {params.runs:q} --csv {output.named_csv} {output.csv}"
        " --markdown {output.named_markdown} {output.markdown} > {log} 2>&1"


rule summary_page:
    input:
        csv=rules.summary.output.named_csv,
        script=step_script("summary_page.py"),
        code=step_code("summary_page.py"),
    output:
        page=report(
            f"results/summary/{SUMMARY_NAME}.html",
            caption="../report/summary.rst",
            category="Comparison",
            labels=summary_labels,
        ),
    conda:
        "../envs/t5qa.yaml"
    log:
        f"logs/summary_page/{SUMMARY_NAME}.log",
    shell:
        "python {input.script} --csv {input.csv} --output {output.page}"
        f" --title 'Experiments side by side: {SUMMARY_NAME}' > {{log}} 2>&1"
