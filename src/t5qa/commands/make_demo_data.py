"""Regenerate the embedded demo data under resources/demo/ and its long-context variant under resources/demo_long/
(deterministic: same bytes every time)."""

from pathlib import Path

from t5qa import cli
from t5qa.atomic import write_text
from t5qa.data.demo_data import render_demo_files, render_long_demo_files

COMMAND = cli.Command("demo-data", "regenerate the embedded demo data")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--output-dir", default="resources", help="demo/ and demo_long/ are written under it")
    args = parser.parse_args(argv)
    for folder, files in (("demo", render_demo_files()), ("demo_long", render_long_demo_files())):
        for name, text in files.items():
            write_text(Path(args.output_dir) / folder / name, text)
            print(f"wrote {Path(args.output_dir) / folder / name}")


if __name__ == "__main__":
    main()
