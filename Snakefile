# Fine-tune T5 on extractive QA: download -> normalize -> tokenize -> train -> predict -> metrics.
# Usage: snakemake --profile profiles/slurm results/metrics/squad2.json   (README for more)

import json
import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from t5qa.plan.config_check import foreign_tag, validate_config
from t5qa.plan.experiments import build_experiments, evaluation_runs
from t5qa.plan.output_folders import unsafe_directory_outputs
from t5qa.report.causalqa_table import check_table

min_version("9.0")


# A YAML tag (`!!python/...`) in the workflow's config: Snakemake's loader refuses it as "tab indentation"; name it.
# (A --configfile is read by Snakemake before this file: its loader refuses the tag, nothing runs, in its words.)
if problem := foreign_tag(os.path.join(workflow.basedir, "config", "config.yaml")):
    raise WorkflowError(problem)


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# Config mistakes, one line each naming the key path, the value and what is allowed: a key given twice in a config
# file, what the schema (src/t5qa/config.schema.yaml) refuses (its defaults are filled in here), and what it cannot
# see (a dataset naming an undeclared source, a source listed twice, ...).
# Every experiment (the top-level settings are the one named `default`), its overrides merged in and checked.
try:
    validate_config(config, workflow.configfiles)
    # every value its own copy (no default object shared by reference between sources)
    config.update(json.loads(json.dumps(config)))
    EXPERIMENTS = build_experiments(config)
    EVALUATIONS = evaluation_runs(config, EXPERIMENTS)
    # A CausalQA table, when the config declares one (more than the schema's empty defaults), is checked whatever
    # the target, not only when the table is asked for.
    TABLE = config["causalqa_table"]
    if any(TABLE.values()) and (problems := check_table(TABLE, EXPERIMENTS, config["datasets"])):
        raise ValueError("\n".join(f"config: {problem}" for problem in problems))
except ValueError as err:
    raise WorkflowError(str(err)) from None


# The Slurm profile ships a placeholder account: say so before sbatch refuses every job.
if any(
    re.fullmatch(r"slurm_account=['\"]?def-someone['\"]?", str(arg))
    for arg in getattr(workflow.resource_settings.default_resources, "args", None) or []
):
    print(
        "warning: slurm_account is the profile's placeholder def-someone: set yours in profiles/slurm/config.yaml"
        " or add --default-resources slurm_account=def-yourpi (sshare -U shows your accounts)",
        file=sys.stderr,
    )


include: "workflow/rules/common.smk"
include: "workflow/rules/step_inputs.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/prefetch.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/scratch_model.smk"
include: "workflow/rules/tokenize_data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/causalqa_table.smk"


# Snakemake deletes a directory() output before its job runs: every one must lie under results/, whatever its
# wildcards hold (t5qa.plan.output_folders).
if problems := unsafe_directory_outputs(workflow.rules):
    raise WorkflowError("; ".join(problems))


report: "workflow/report/workflow.rst"


rule all:
    input:
        expand(rules.metrics.output.metrics, xp="", dataset=config["default_datasets"], on="", test=""),
        expand(rules.plot_training.output.plot, xp="", dataset=config["default_datasets"]),
        expand(rules.report_page.output.page, xp="", dataset=config["default_datasets"]),
        # Experiments side by side, when the config declares any: the table, its report page, each model's curves.
        [rules.summary.output.csv, rules.summary_page.output.page, SUMMARY_CURVES]
        if len(EXPERIMENTS) > 1 or config["evaluations"]
        else [],
    default_target: True
