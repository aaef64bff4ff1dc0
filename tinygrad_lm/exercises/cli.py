"""``tinygrad-lm exercises list | start DIR | solve DIR | check ID... | check --all``."""
from __future__ import annotations

import argparse
import sys

from .core import check_ids, discover, report, write_files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinygrad-lm exercises",
                                     description="Textbook exercises: write the stubs, check them, or write the solutions.")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="one exercise a line: ID, title, kind, inventory IDs")
    for action, what in (("start", "write the student files (stubs) into DIR"),
                         ("solve", "write the reference solutions into DIR (teachers, CI)")):
        p = sub.add_parser(action, help=what)
        p.add_argument("dir", metavar="DIR")
        p.add_argument("--force", action="store_true", help="overwrite files that were changed since they were written")
    p = sub.add_parser("check", help="check exercises against the files in --dir")
    p.add_argument("ids", nargs="*", metavar="ID", help="exercise IDs such as 3.2")
    p.add_argument("--all", action="store_true", help="check every exercise")
    p.add_argument("--dir", default=".", help="where the student files are (default: the current directory)")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.action == "list":
        for ex in discover().values():
            print(f"{ex.id}  {ex.title}  [{ex.kind}]  {' '.join(ex.ids)}")
        return 0
    if args.action in ("start", "solve"):
        try:
            paths = write_files(args.dir, solution=args.action == "solve", force=args.force)
        except FileExistsError as exc:
            print(f"tinygrad-lm exercises {args.action}: {exc}", file=sys.stderr)
            return 1
        what = "solutions" if args.action == "solve" else "exercise files"
        print(f"wrote {len(paths)} {what} into {args.dir}: " + ", ".join(p.name for p in paths))
        if args.action == "start":
            print(f"fill them in, then run: tinygrad-lm exercises check --all --dir {args.dir}")
        return 0
    if args.all == bool(args.ids):
        print("tinygrad-lm exercises check: give exercise IDs or --all (not both)", file=sys.stderr)
        return 2
    ids = list(discover()) if args.all else args.ids
    try:
        results = check_ids(ids, args.dir)
    except KeyError as exc:
        print(f"tinygrad-lm exercises check: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0 if report(results) else 1
