"""``sra-seg project``: create a project, import images into it, and show what it holds."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("project", help="create, fill and inspect a project folder")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="make a new, empty project")
    create.add_argument("dir", type=Path, help="new or empty folder")
    create.add_argument("--name", help="project name (default: the folder name)")
    create.add_argument("--classes", help="comma-separated class names, e.g. RV,Myo,LV (the default)")
    create.set_defaults(func=run_create)

    imp = actions.add_parser(
        "import",
        help="import images (and labels found by name) into a project",
        description="Import image files or folders. X_gt / X_label / X_seg next to X, or X in --labels, is X's "
        "label. Exit code 1 when some images could not be imported (each is listed with the reason), 2 when none "
        "could (each is an error line).",
    )
    imp.add_argument("dir", type=Path, help="project folder")
    imp.add_argument("sources", type=Path, nargs="+", metavar="SRC", help="image files or folders")
    imp.add_argument("--role", choices=("real", "synthetic"), default="real")
    imp.add_argument("--copy", action="store_true", help="copy images into the project instead of referencing them")
    imp.add_argument("--labels", type=Path, metavar="FOLDER", help="folder with label files named like the images")
    imp.add_argument(
        "--labels-as",
        choices=("approved", "reference"),
        default="approved",
        help="approved: labels to train on; reference: ground truth kept only for metrics",
    )
    imp.set_defaults(func=run_import)

    info = actions.add_parser("info", help="show a project's classes, counts and cases (read-only)")
    info.add_argument("dir", type=Path, help="project folder")
    info.set_defaults(func=run_info)

    # Further actions live in their own modules, commands/_project_<action>.py, each with register(actions).
    import importlib
    import pkgutil

    from sra_seg_core import commands

    for module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if m.name.startswith("_project_")):
        importlib.import_module(f"{commands.__name__}.{module}").register(actions)


def run_create(args: argparse.Namespace) -> int:
    from sra_seg_core.project import DEFAULT_CLASSES, Project, named_classes

    classes = DEFAULT_CLASSES
    if args.classes is not None:
        classes = named_classes([name.strip() for name in args.classes.split(",")])
    with Project.create(args.dir, name=args.name, classes=classes) as project:
        names = ", ".join(f"{c.value} {c.name}" for c in project.classes)
        print(f"created project {project.name!r} in {project.path} with classes {names}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from sra_seg_core.project import ImportReport, Project

    options = {"role": args.role, "copy": args.copy, "label_folder": args.labels, "label_as": args.labels_as}
    report = ImportReport()
    with Project.open(args.dir) as project:
        files = [src for src in args.sources if not src.is_dir()]
        missing = [src for src in files if not src.exists()]
        report.skipped += [(src, "no such file or folder") for src in missing]
        report.extend(project.import_files([f for f in files if f not in missing], **options))
        for folder in (src for src in args.sources if src.is_dir()):
            report.extend(project.import_folder(folder, **options))
    for case in report.imported:
        extras = "".join(f", {kind}" for kind in ("label", "reference") if getattr(case, kind))
        print(f"imported {case.id} ({case.role}, {'x'.join(map(str, case.shape))}{extras}) from {case.source}")
    # nothing imported is a failed command: its reasons are errors, like any other user error
    failed = bool(report.skipped) and not report.imported
    for path, reason in report.skipped:
        print(f"{'error:' if failed else 'skipped'} {path}: {reason}", file=sys.stderr if failed else sys.stdout)
    for path in report.ignored:
        print(f"ignored {path}: not an image")
    print(f"{len(report.imported)} imported, {len(report.skipped)} skipped, {len(report.ignored)} ignored")
    return 2 if failed else 1 if report.skipped else 0


def _status_summary(status: str) -> str:
    """e.g. ``8/10 done, 1 flagged`` for a slice-status string."""
    count = Counter(status)
    parts = [f"{count['d']}/{len(status)} done"]
    parts += [f"{count[c]} {word}" for c, word in (("p", "in progress"), ("f", "flagged")) if count[c]]
    return ", ".join(parts)


def run_info(args: argparse.Namespace) -> int:
    from sra_seg_core.errors import one_line
    from sra_seg_core.project import Project

    project = Project.open(args.dir, read_only=True)
    for problem in project.problems:
        print(f"warning: {project.path / 'project.json'}: {problem}", file=sys.stderr)
    counts = project.counts()

    def show(text: str) -> None:  # a manifest from elsewhere may hold terminal escape codes: shown, never obeyed
        print(one_line(text))

    show(f"project   {project.name}  ({project.path})")
    show("classes   " + ", ".join(f"{c.value} {c.name} {c.color}" for c in project.classes))
    show(
        f"cases     {counts['real_labelled']} real labelled ({counts['labelled_slices']} slices done), "
        f"{counts['real_unlabelled']} real unlabelled, {counts['synthetic']} synthetic, {counts['predicted']} predicted"
    )
    if not project.cases:
        return 0
    rows = [("case", "role", "group", "shape", "files", "slices")]
    for case in project.cases:
        files = [kind for kind in ("label", "reference", "prediction") if getattr(case, kind)]
        stored = "copied" if case.copied else "referenced"
        rows.append(
            (
                case.id,
                case.role,
                case.group,
                "x".join(map(str, case.shape)),
                ", ".join([stored, *files]),
                _status_summary(case.slice_status),
            )
        )
    rows = [tuple(one_line(cell) for cell in row) for row in rows]  # widths of what is shown
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        show("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0
