"""``sra-seg project predict``: run a trained model on a project's cases, read-only, for the Review workspace.

The project is opened read-only (the app holding its lock may be open), so the results go to ``--output``: per case
``<case_id>.nii.gz`` (the label map, uint8, on the image's grid and geometry) and ``<case_id>.json`` (uncertainty
and, where the case has a reference label, per-class metrics; see :func:`sra_seg_core.review.case_report`). The JSON
is written after the label map, both atomically, and a ``progress`` event names the case once both exist; the app
then imports them into the project (:func:`sra_seg_core.review.import_prediction`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sra_seg_core.errors import ConfigError, ProjectError, SraSegError

ROLES = ("real", "synthetic", "all")


def register(actions) -> None:
    p = actions.add_parser(
        "predict",
        help="run a trained model on a project's cases (read-only; results go to --output)",
        description="Predict label maps for a project's cases without changing the project. For each case, "
        "OUTPUT/<case>.nii.gz holds the label map and OUTPUT/<case>.json its uncertainty (mean predictive entropy, "
        "or with --tta the variance across flips, over the predicted foreground) and, where the case has a "
        "reference label, Dice, Jaccard, HD95 and ASD per class. Exit code 1 when some cases could not be predicted "
        "(each is named with the reason), 2 when none could.",
    )
    p.add_argument("dir", type=Path, metavar="PROJECT", help="project folder")
    p.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT", help="a run's best.pt")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--cases", nargs="+", metavar="ID", help="these cases only")
    which.add_argument("--role", choices=ROLES, help="every case of this role (default: real)")
    p.add_argument("--output", required=True, type=Path, metavar="DIR", help="folder for the results")
    p.add_argument("--tta", action="store_true", help="average the identity and two flips; uncertainty = their "
                   "variance")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:K")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="slices per forward pass")
    p.add_argument("--events", metavar="FILE", help="write JSON-line events here ('-' = stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace results of the same cases already in --output")
    p.set_defaults(func=run)


def chosen_cases(project, ids: list[str] | None, role: str | None) -> list[str]:
    """The ids to predict, in project order: ``ids`` (each must exist), else every case of ``role`` (default real)."""
    if ids is not None:
        known = {c.id for c in project.cases}
        unknown = [case_id for case_id in ids if case_id not in known]
        if unknown:
            raise ConfigError(f"no case {', '.join(map(repr, unknown))} in project {project.path}; "
                              "`sra-seg project info` lists the cases")
        wanted = set(ids)
        return [c.id for c in project.cases if c.id in wanted]
    role = role or "real"
    return [c.id for c in project.cases if role == "all" or c.role == role]


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.atomic import atomic_write_json
    from sra_seg_core.events import Event, JsonLinesSink, fan_out
    from sra_seg_core.inference import load_checkpoint
    from sra_seg_core.io import read_image, write_image
    from sra_seg_core.project import Project
    from sra_seg_core.review import PredictOptions, case_report, predict_case, prediction_files

    from sra_seg_core.config import check_value
    from sra_seg_core.outputs import check_events_file, check_new_file, check_not_input, check_outside_projects

    options = PredictOptions.from_cli(args)
    check_value("--batch-size", options.batch_size, ge=1, le=65536)
    check_events_file(args.events, [args.dir, args.checkpoint])
    check_not_input(args.output, [args.dir, args.checkpoint], option="--output")
    check_outside_projects(args.output, option="--output")  # the app imports the results through the project
    project = Project.open(args.dir, read_only=True)
    cases = chosen_cases(project, args.cases, args.role)
    for case_id in cases:
        for path in prediction_files(args.output, case_id):
            check_new_file(path, option="--output", overwrite=args.overwrite)
    loaded = load_checkpoint(Path(options.checkpoint), options.device)
    if loaded.num_classes != project.num_classes:
        raise ConfigError(
            f"the model segments {loaded.num_classes - 1} class(es) but the project has {project.num_classes - 1} "
            f"({', '.join(c.name for c in project.classes)}); choose a model trained for this project",
            args.checkpoint,
        )
    class_names = {c.value: c.name for c in project.classes}
    args.output.mkdir(parents=True, exist_ok=True)
    sink = JsonLinesSink(args.events) if args.events else None
    emit = fan_out(sink)
    skipped = []
    try:
        emit(Event("stage", stage="predict", total=len(cases),
                   message=f"predicting {len(cases)} case(s) with {args.checkpoint}"))
        for k, case_id in enumerate(cases, 1):
            case = project.case(case_id)
            try:
                image = read_image(project.image_path(case_id), frame=case.frame, grey=loaded.grey)
                if image.shape != case.shape:
                    raise ProjectError(f"has shape {image.shape} but had {case.shape} when imported; it was changed",
                                       project.image_path(case_id))
                prediction = predict_case(loaded, image, tta=options.tta, batch_size=options.batch_size)
                report = case_report(case_id, prediction, reference=project.read_reference(case_id),
                                     class_names=class_names, checkpoint=str(args.checkpoint))
            except SraSegError as exc:
                skipped.append(case_id)
                emit(Event("warning", stage="predict", iteration=k, total=len(cases), case=case_id,
                           message=f"case {case_id} not predicted: {exc}"))
                print(f"skipped {case_id}: {exc}", file=sys.stderr)
                continue
            label_path, report_path = prediction_files(args.output, case_id)
            write_image(image.with_array(prediction.labels, label=True), label_path)
            atomic_write_json(report_path, report)
            summary = {"uncertainty": report["uncertainty"], "mean_dice": report["mean_dice"]}
            emit(Event("progress", stage="predict", iteration=k, total=len(cases), case=case_id, message=case_id,
                       path=str(label_path), result=summary))
            dice = "" if report["mean_dice"] is None else f", mean Dice {report['mean_dice']:.3f}"
            print(f"predicted {case_id} ({k}/{len(cases)}): uncertainty {report['uncertainty']:.4g}{dice}",
                  file=sys.stderr)
        done = len(cases) - len(skipped)
        emit(Event("done", stage="predict", iteration=done, total=len(cases), status="finished",
                   message=f"{done} case(s) predicted" + (f", {len(skipped)} skipped" if skipped else ""),
                   result={"predicted": [c for c in cases if c not in skipped], "skipped": skipped}))
    finally:
        if sink:
            sink.close()
    if skipped and len(skipped) == len(cases):   # nothing predicted: the command failed
        print(f"error: none of the {len(cases)} case(s) could be predicted (reasons above)", file=sys.stderr)
        return 2
    return 1 if skipped else 0
