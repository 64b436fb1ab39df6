# Fine-tune T5 on extractive QA: download -> normalize -> tokenize -> train -> predict -> metrics.
# Usage: snakemake --profile profiles/slurm results/metrics/squad2.json   (README for more)

import json
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from t5qa.config_check import check_config

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")
# validate() inserts the schema's default objects by reference: give every source its own copy.
config.update(json.loads(json.dumps(config)))
# What the schema cannot see (a dataset naming an undeclared source, a source listed twice, ...): one line each.
try:
    check_config(config)
except ValueError as err:
    raise WorkflowError(str(err)) from None


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/prefetch.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/scratch_model.smk"
include: "workflow/rules/tokenize_data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        expand(rules.metrics.output.metrics, dataset=config["default_datasets"]),
        expand(rules.plot_training.output.plot, dataset=config["default_datasets"]),
        expand(rules.report_page.output.page, dataset=config["default_datasets"]),
    default_target: True
