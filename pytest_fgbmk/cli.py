"""The ``fgbmk`` console command.

    fgbmk questions import FILE… --out OURS.jsonl [--dataset NAME] [--task TASK] [--image-root DIR]
    fgbmk questions export --data ROOT --dataset NAME --task TASK --format release|fgbmk|vlmevalkit --out FILE

Subcommands are argparse subparsers; later commands (``report``, ``compare``, ``datasets``)
register themselves in :func:`build_parser` the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_fgbmk.errors import ConfigError, FgbmkError
from pytest_fgbmk.questions.records import TASKS

EXPORT_FORMATS = ("release", "fgbmk", "vlmevalkit")


def _cmd_questions_import(args: argparse.Namespace) -> int:
    import warnings

    from pytest_fgbmk.questions.files import GuessedContext, read_question_files, write_jsonl

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GuessedContext)
        questions = read_question_files(
            args.files, dataset=args.dataset, task=args.task, image_root=args.image_root
        )
    for w in caught:
        if issubclass(w.category, GuessedContext):
            print(f"fgbmk: warning: {w.message}", file=sys.stderr)
    n = write_jsonl(questions, args.out)
    print(f"fgbmk: wrote {n} questions from {len(args.files)} file(s) to {args.out}")
    return 0


def _load_dataset(name: str, root: Path):
    from pytest_fgbmk.data.discovery import load_dataset

    return load_dataset(name, root)


def _cmd_questions_export(args: argparse.Namespace) -> int:
    from pytest_fgbmk.questions.cases import build_questions, cases_for
    from pytest_fgbmk.questions.files import write_jsonl, write_release, write_vlmevalkit

    if not Path(args.data).is_dir():
        raise ConfigError(f"--data {args.data}: not a directory; point it at the data root")
    dataset = _load_dataset(args.dataset, Path(args.data))
    tasks = TASKS if args.task == "all" else (args.task,)
    cases = cases_for(dataset, tasks)
    if args.qtype:
        cases = [c for c in cases if c.qtype == args.qtype]
    if not cases:
        raise ConfigError(
            f"dataset {dataset.name!r} has no {args.task} questions on its test split "
            "(no test images, or no levels / attribute groups to ask about)"
        )
    questions = []
    for case in cases:
        questions.extend(
            build_questions(
                dataset, case, templates=args.templates, limit=args.limit, seed=args.seed
            )
        )
    if args.format == "release":
        tasks_in = sorted({q.task for q in questions})
        if len(tasks_in) > 1:
            raise ConfigError(
                f"--format release holds one task per file (its lines have no task field) but "
                f"these questions are of {', '.join(tasks_in)}; give --task, one export per task"
            )
        n = write_release(questions, args.out)
    elif args.format == "fgbmk":
        n = write_jsonl(questions, args.out)
    else:
        n = write_vlmevalkit(questions, args.out, root=dataset.root)
    print(f"fgbmk: wrote {n} questions ({len(cases)} case(s) of {dataset.name}) to {args.out}")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgbmk", description="FG-BMK benchmark tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    questions = sub.add_parser("questions", help="import and export question files")
    qsub = questions.add_subparsers(dest="action", required=True, metavar="ACTION")

    imp = qsub.add_parser(
        "import", help="convert release JSONL files (or any of our exports) into our JSONL"
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--out", required=True, type=Path, help="our JSONL file to write")
    imp.add_argument("--dataset", help="dataset name (default: read from each file's path)")
    imp.add_argument(
        "--task",
        choices=TASKS,
        help="task of release-format files (default: read from each file's path, else granularity)",
    )
    imp.add_argument(
        "--image-root",
        type=Path,
        help="VLMEvalKit TSVs: the dataset's own folder (the export's --data/NAME, e.g. "
        "ROOT/cub), made relative again in image paths",
    )
    imp.set_defaults(func=_cmd_questions_import)

    exp = qsub.add_parser("export", help="generate a dataset's questions and write them to a file")
    exp.add_argument("--data", required=True, type=Path, help="the data root")
    exp.add_argument("--dataset", required=True, help="dataset name, e.g. cub")
    exp.add_argument("--task", default="all", choices=(*TASKS, "all"))
    exp.add_argument("--qtype", choices=("tf", "mc", "sa"), help="only this question type")
    exp.add_argument("--format", default="fgbmk", choices=EXPORT_FORMATS)
    exp.add_argument("--templates", default="original", choices=("original", "extended"))
    exp.add_argument("--limit", type=_positive, help="at most this many questions per case")
    exp.add_argument("--seed", type=int, default=0)
    exp.add_argument("--out", required=True, type=Path)
    exp.set_defaults(func=_cmd_questions_export)
    from pytest_fgbmk.cli_report import add_report_commands

    add_report_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 2 a usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except FgbmkError as e:
        print(f"fgbmk: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"fgbmk: error: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
