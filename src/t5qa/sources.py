"""What the config says about a source: its splits, where each comes from, its raw file's extension."""

from __future__ import annotations

EXTENSIONS = {
    "squad_v2_json": "json",
    "causalqa_csv": "csv",
    "csv": "csv",
    "tsv": "tsv",
    "jsonl": "jsonl",
    "json": "json",
    "parquet": "parquet",
    "hub": "parquet",  # a hub split is saved as parquet by the download step
}


def raw_extension(spec: dict) -> str:
    return EXTENSIONS[spec["format"]]


def source_splits(spec: dict) -> list[str]:
    return [split for split in ("train", "validation") if split in spec]


def split_spec(spec: dict, split: str, split_family: str = "original") -> dict:
    """Where one split comes from: {url|path, md5?, sha256?}, {archive, member} or {hub, config?, split}.

    A split the source lacks is carved out of train by id hash (`validation_fraction`).
    """
    if spec.get("unavailable"):
        raise ValueError(spec["unavailable"])
    if split not in spec:
        return {"carved_from": "train", "fraction": spec.get("validation_fraction", 0.1)}
    location = dict(spec[split])
    if "member" in location:
        location["member"] = location["member"].format(split_family=split_family)
    return location
