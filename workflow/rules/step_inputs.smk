# Each step's input functions (which files and params a job of that step depends on), built on common.smk.


# --- download


def download_location(wildcards):
    """The resolved location of a raw split: a tracked param, so a new URL or member re-downloads."""
    spec = source_config(wildcards.source)
    location = split_spec(spec, wildcards.split, config["causalqa_split_family"])
    if "archive" in location:
        location["member"] = archive_member(config["archives"][location["archive"]], location["member"])
    return location


def download_inputs(wildcards):
    location = download_location(wildcards)
    inputs = {"script": step_script("download.py"), "code": step_code("download.py")}
    if "path" in location and Path(location["path"]).is_file():
        # An edited local file reruns its chain (a missing one is left to download.py's one-line error).
        inputs["local"] = location["path"]
    if "archive" in location:
        inputs["archive"] = expand(rules.download_archive.output.archive, archive=location["archive"])[0]
    return inputs


# --- normalize


def normalize_settings(wildcards):
    """Everything that shapes a source's table: a change reruns that source's chain only."""
    return source_specs.normalize_settings(source_config(wildcards.source), wildcards.split)


# --- tokenize_data


def tokenize_data_inputs(wildcards):
    sources = dataset_sources(wildcards.dataset)
    entry = TOKENIZATIONS[wildcards.tok]
    settings = entry["settings"]
    # A test folder reads the training tables too, to count its rows that repeat one (tables_arguments).
    splits = scored_splits(wildcards) + (["train"] if wildcards.test else [])
    inputs = {
        "tables": [table for split in splits for table in normalized(sources, split)],
        "script": step_script("tokenize_data.py"),
        "code": step_code("tokenize_data.py"),
    }
    # A hub tokenizer is fetched on the login node first (prefetch), so this job can run offline.
    if settings["model"]["tokenizer"] == "scratch":
        inputs["tokenizer"] = tokenizer_location(entry, tokenizer_dataset(wildcards))
    else:
        inputs["tokenizer"] = expand(rules.prefetch_hub.output.record, hub=entry["hub"]["tokenizer"], role="tokenizer")[0]
    return inputs


def tokenizer_dataset(wildcards):
    """The dataset whose scratch tokenizer tokenizes this folder: its own, or the one named by .by.<dataset>."""
    return wildcards.by.removeprefix(".by.") or wildcards.dataset


def tokenized(entry, dataset, trained_on=None, test=""):
    """An experiment's tokenized folder and stats for a dataset (shared with every experiment that tokenizes alike).
    A scratch tokenizer is trained per dataset: a model trained on another dataset reads data its own one made."""
    by = ""
    if trained_on not in (None, dataset) and entry["settings"]["model"]["tokenizer"] == "scratch":
        by = f".by.{trained_on}"
    paths = {"tok": entry["tokenization"], "dataset": dataset, "by": by, "test": test}
    return {
        "tokenized": expand(rules.tokenize_data.output.data, **paths)[0],
        "stats": expand(rules.tokenize_data.output.stats, **paths)[0],
    }


# --- train


def train_inputs(wildcards):
    entry = experiment(wildcards)
    return {
        **tokenized(entry, wildcards.dataset),
        "model": model_input(entry, wildcards.dataset),
        "script": step_script("train.py"),
        "code": step_code("train.py"),
    }


# --- predict


def predict_inputs(wildcards):
    """The model (trained, or the starting one for an experiment with finetune: false), the evaluated dataset's
    tokenized validation split, and the stats of the data the model was trained on (its answer lengths)."""
    entry = experiment(wildcards)
    trained_on = tokenized(entry, wildcards.dataset)
    if entry["finetune"]:
        model = trained_model(entry, wildcards.dataset)
    else:
        model = model_input(entry, wildcards.dataset)
    return {
        "model": model,
        "tokenized": tokenized(entry, evaluated_dataset(wildcards), wildcards.dataset, wildcards.test)["tokenized"],
        "stats": trained_on["stats"],
        "script": step_script("predict.py"),
        "code": step_code("predict.py"),
    }


def predict_model(wildcards):
    entry = experiment(wildcards)
    if entry["finetune"]:
        return trained_model(entry, wildcards.dataset)
    return model_location(entry, wildcards.dataset)


def trained_model(entry, dataset):
    """The experiment's fine-tuned model: its own, or that of the first experiment that trains alike."""
    return expand(rules.train.output.model, xp=entry["trained_by"], dataset=dataset)[0]


# --- prefetch


def dataset_raw_files(dataset):
    return sorted({raw_file(s, split) for s in dataset_sources(dataset) for split in SPLITS})


# --- summary


def run_metrics(run, output="metrics"):
    """The metrics file of one table row: results/[experiments/<name>/]metrics/<trained>[.on.<evaluated>][.test].json
    (or another output of its metrics job: `questions`, its questions CSV)."""
    on = "" if run["evaluated_on"] == run["trained_on"] else f".on.{run['evaluated_on']}"
    test = ".test" if run["split"] == TEST else ""
    xp = experiment_prefix(run["experiment"])
    return expand(rules.metrics.output[output], xp=xp, dataset=run["trained_on"], on=on, test=test)[0]


# --- causalqa_table


def experiment_metrics(name, dataset):
    """An experiment's metrics file on its own dataset's validation split."""
    return expand(rules.metrics.output.metrics, xp=experiment_prefix(name), dataset=dataset, on="", test="")[0]


def validation_stats(dataset):
    """The normalize stats of a dataset's validation files: their rows as read."""
    return expand(rules.normalize.output.stats, source=dataset_sources(dataset), split="validation")


def causalqa_table_cells():
    """The table's cells, row by row in the declared order (a list: a mapping would come out sorted)."""
    # Its names were checked at DAG build (the Snakefile runs check_table).
    return table_cells(config["causalqa_table"], experiment_metrics, validation_stats)
