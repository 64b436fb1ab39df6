# The Webis-CausalQA-22 fine-tuning table (config/causalqa_table.yaml; docs/causalqa.md): every cell's metrics file.


rule causalqa_table:
    input:
        metrics=lambda wc: sorted({c["metrics"] for row in causalqa_table_cells() for c in row["cells"].values()}),
        stats=lambda wc: sorted({s for row in causalqa_table_cells() for c in row["cells"].values() for s in c["stats"]}),
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
        "python {input.script:q} --cells {params.cells:q} --csv {output.csv:q} --markdown {output.markdown:q} > {log:q} 2>&1"
