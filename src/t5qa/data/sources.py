"""What the config says about a source: its splits, where each split's raw file comes from, and how the normalize
step reads each split. A split without its own file is carved out of train: this module alone decides how.

The specs are the validated config's: Snakemake has filled in the schema's defaults (validation_fraction, columns,
strict), so they are read as they are, never defaulted again here.
"""

from __future__ import annotations

from t5qa import ALL_SPLITS, SPLITS, TEST  # noqa: F401  (re-exported: the rules read them here)
from t5qa.data.formats import FORMATS
from t5qa.settings import NormalizeSettings


def raw_extension(spec: dict) -> str:
    """The extension of the source's raw files (its format's, in the registry)."""
    return FORMATS[spec["format"]].extension


def read_split(spec: dict, split: str) -> str:
    """The split whose raw file `split` is read from: its own, or train's when it has none (a test split is
    never carved out of train)."""
    return split if split in spec or split == TEST else "train"


def split_spec(spec: dict, split: str, split_family: str) -> dict:
    """Where a split with its own file comes from: {url|path, md5?, sha256?}, {archive, member} or
    {hub, config?, split}, with `{split_family}` in a member's path filled in: the source's own `split_family`
    when it declares one (so two sources can read both Webis-CausalQA-22 families side by side), else the global
    `split_family` given."""
    _check_available(spec)
    if split == TEST and TEST not in spec:
        raise ValueError("the source declares no test file (add test: {path: ...} to score a test split)")
    if split not in spec:
        raise ValueError(f"the source has no {split} file: its {split} table is carved out of train's file")
    location = dict(spec[split])
    if "member" in location:
        location["member"] = location["member"].format(split_family=spec.get("split_family") or split_family)
    return location


def normalize_settings(spec: dict, split: str) -> dict:
    """The normalize step's settings (t5qa.settings.NormalizeSettings) for one split, as a plain dict.

    A source without a validation file has both its tables carved out of its train file by id hash: validation
    keeps `validation_fraction` of the rows and train the rest, so the two never share a row. A test table is its
    own file, as it is.
    """
    _check_available(spec)
    carved = "validation" not in spec and split != TEST
    holdout = {"fraction": spec["validation_fraction"], "part": split} if carved else None
    values = {"format": spec["format"], "columns": spec["columns"], "strict": spec["strict"], "holdout": holdout}
    return NormalizeSettings.from_dict(values, where="normalize settings").as_dict()


def _check_available(spec: dict) -> None:
    """A source the config marks unavailable stops the DAG with the config's own explanation."""
    if spec.get("unavailable"):
        raise ValueError(spec["unavailable"])
