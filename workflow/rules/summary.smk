# One comparison table over every (experiment, trained-on, evaluated-on) the config declares (`evaluations`).


rule summary:
    input:
        metrics=[run_metrics(run) for run in EVALUATIONS],
        script=step_script("summary.py"),
        code=step_code("summary.py"),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Comparison",
            labels={"table": "experiments side by side"},
        ),
        markdown="results/summary.md",
    params:
        runs=canonical([{**run, "metrics": run_metrics(run)} for run in EVALUATIONS]),
    conda:
        "../envs/t5qa.yaml"
    log:
        "logs/summary.log",
    shell:
        "python {input.script} --runs {params.runs:q} --csv {output.csv} --markdown {output.markdown} > {log} 2>&1"
