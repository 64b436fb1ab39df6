"""Regenerate the embedded demo data under resources/demo/ (deterministic: same bytes every time)."""

import argparse
from pathlib import Path

from t5qa.atomic import write_text
from t5qa.demo_data import render_demo_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", default="resources/demo", help="where to write the demo files")
    args = parser.parse_args()
    for name, text in render_demo_files().items():
        write_text(Path(args.output_dir) / name, text)
        print(f"wrote {Path(args.output_dir) / name}")


if __name__ == "__main__":
    main()
