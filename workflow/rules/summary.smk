# One comparison table over every (experiment, trained-on, evaluated-on) the config declares (`evaluations`), with
# the settings that set the experiments apart as columns. Each config's table keeps its own name
# (results/summary/<name>.*: the groups it compares and a hash of its rows), so that the next config does not
# overwrite it; results/summary.{csv,md} are the latest one written. The report shows it as a sortable page.
# Each run is compared with the reference experiment (`comparison`) question by question, from the metrics step's
# questions CSVs: the difference in EM and F1 with a paired bootstrap interval (t5qa.report.paired).


from t5qa.plan.comparison import summary_name, varied_settings
from t5qa.plan.experiments import experiment_prefix
from t5qa.report.paired import reference_group
from t5qa.report.report_labels import summary_labels

SUMMARY_SETTINGS = varied_settings(EXPERIMENTS, list(dict.fromkeys(run["experiment"] for run in EVALUATIONS)))
SUMMARY_RUNS = [
    {**run, "metrics": run_metrics(run), "settings": SUMMARY_SETTINGS[run["experiment"]]} for run in EVALUATIONS
]
SUMMARY_NAME = summary_name(SUMMARY_RUNS, EXPERIMENTS)  # before the questions: their paths add nothing to name
SUMMARY_RUNS = [{**run, "questions": run_metrics(run, "questions")} for run in SUMMARY_RUNS]
COMPARISON = config["comparison"]
try:
    reference_group(SUMMARY_RUNS, COMPARISON.get("reference"))
except ValueError as err:
    raise WorkflowError(f"comparison.reference: {err}") from None
# Words of the summary command, each quoted by the rule (:q).
COMPARISON_ARGS = [
    *(["--reference", COMPARISON["reference"]] if "reference" in COMPARISON else []),
    *["--bootstrap-resamples", str(COMPARISON["resamples"]), "--bootstrap-seed", str(COMPARISON["seed"])],
]

# The training curves of every model the comparison trains (in the report beside the table).
SUMMARY_CURVES = list(
    dict.fromkeys(
        expand(rules.plot_training.output.plot, xp=experiment_prefix(run["experiment"]), dataset=run["trained_on"])[0]
        for run in EVALUATIONS
        if EXPERIMENTS[run["experiment"]]["finetune"]
    )
)

rule summary:
    input:
        metrics=[run["metrics"] for run in SUMMARY_RUNS],
        questions=[run["questions"] for run in SUMMARY_RUNS],
        script=step_script("summary.py"),
        code=step_code("summary.py"),
    output:
        csv="results/summary.csv",
        markdown="results/summary.md",
        named_csv=f"results/summary/{SUMMARY_NAME}.csv",
        named_markdown=f"results/summary/{SUMMARY_NAME}.md",
    params:
        # A function: Snakemake would read a string param's braces (a varied tokenize.template's {question}) as
        # wildcards.
        runs=lambda wc: canonical(SUMMARY_RUNS),
        comparison=COMPARISON_ARGS,
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/summary.log",
    shell:
        "python {input.script:q} --runs {params.runs:q} {params.comparison:q} --csv {output.named_csv:q}"
        " {output.csv:q} --markdown {output.named_markdown:q} {output.markdown:q} > {log:q} 2>&1"


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
            labels=lambda wc, input: summary_labels(input.csv, SUMMARY_NAME),
        ),
    params:
        title=f"Experiments side by side: {SUMMARY_NAME}",
    conda:
        "../envs/t5qa.yaml"
    log:
        f"logs/summary_page/{SUMMARY_NAME}.log",
    shell:
        "python {input.script:q} --csv {input.csv:q} --output {output.page:q}"
        " --title {params.title:q} > {log:q} 2>&1"
