"""``sra-seg evaluate``: Dice, Jaccard, HD95 and ASD of predicted label maps against ground truth.

Each mode produces ``(case, ClassMetrics)`` rows; one report prints their summary and writes the CSV. File mode pairs
prediction and ground-truth files (or folders, by case name); checkpoint mode runs a trained model on a split of a data
set (the validation/test protocol of the published tables) and scores it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sra_seg_core.errors import ConfigError, InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score predicted label maps against ground truth (Dice, Jaccard, HD95, ASD)",
        description=(
            "Score each class of each case in 3-D the way the published tables do (medpy's dc, jc, hd95, asd; "
            "distances in voxels, and in mm from the ground truth's spacing). A class missing from a prediction "
            "scores 0 for every metric."
        ),
    )
    parser.add_argument("--pred", type=Path, metavar="P",
                        help="prediction label file, or folder of them")
    parser.add_argument("--gt", type=Path, metavar="G",
                        help="ground-truth label file, or folder (files are paired by case name: identical names, "
                             "or equal after dropping _gt, _pred, _seg, _label…)")
    parser.add_argument("--labels", metavar="L1,L2,…",
                        help="label values to score (default: every non-zero value in the ground truth)")
    parser.add_argument("--label-names", metavar="N1,N2,…",
                        help="names of the --labels in order, e.g. RV,Myo,LV; without --labels they name labels 1..n")
    parser.add_argument("--binarize", action="store_true",
                        help="read binary masks stored as 0/255 (or 0/1), such as FIVES' vessel masks, as class 1")
    parser.add_argument("--csv", type=Path, metavar="OUT", help="write one line per case and class to this CSV file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --csv file or --predictions "
                        "(never an input)")
    parser.add_argument("--protocol", choices=("studio", "reference"), default="studio",
                        help="file mode: how a single 2-D image is scored — studio (default): as the 2-D image; "
                             "reference: as medpy on its (1, H, W) volume, as the released FIVES evaluation. "
                             "Checkpoint mode uses the run's own protocol")
    model = parser.add_argument_group("checkpoint mode (instead of --pred/--gt)")
    model.add_argument("--checkpoint", type=Path, metavar="CKPT", help="a run's best.pt")
    model.add_argument("--data", type=Path, metavar="DIR", help="the data set (ACDC, FIVES or image/label folder)")
    model.add_argument("--split", choices=("train", "val", "test"), default="test",
                       help="which split to score, as the run split it (default: test)")
    model.add_argument("--predictions", type=Path, metavar="DIR", help="also write the predicted label maps here")
    model.add_argument("--tta", action="store_true", help="average the identity and two flips")
    model.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:K")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    labels = _parse_list("--labels", args.labels, int)
    names = _parse_list("--label-names", args.label_names, str)
    if names is not None and labels is None:
        labels = list(range(1, len(names) + 1))
    if labels is not None and any(label < 0 for label in labels):
        raise ConfigError(f"--labels: label values are non-negative integers, got {args.labels!r}")
    if names is not None and len(names) != len(labels):
        raise ConfigError(f"--label-names gives {len(names)} names for {len(labels)} labels ({args.labels})")

    _check_outputs(args)
    if args.checkpoint is not None:
        if args.pred is not None or args.gt is not None:
            raise ConfigError("use either --pred/--gt (files) or --checkpoint/--data (a model), not both")
        if args.data is None:
            raise ConfigError("--checkpoint needs --data DIR: the data set whose split to score")
        from sra_seg_core.evaluation import score_checkpoint

        labels, rows, names = score_checkpoint(args.checkpoint, args.data, split=args.split, labels=labels,
                                               tta=args.tta, device=args.device, predictions=args.predictions)
        _report(rows, dict(zip(labels, names)), args.csv)
        return 0
    if args.pred is None or args.gt is None:
        raise ConfigError("give --pred and --gt (label files or folders), or --checkpoint and --data")
    labels, rows = _score_files(args.pred, args.gt, labels, binarize=args.binarize,
                                flat_as_2d=args.protocol != "reference")
    _report(rows, dict(zip(labels, names)) if names else None, args.csv)
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """The CSV and the predictions folder replace no input, land in no project, and replace earlier results only with
    --overwrite (see :mod:`sra_seg_core.outputs`)."""
    from sra_seg_core.outputs import check_empty_folder, check_new_file, check_not_input, check_outside, \
        check_outside_projects

    inputs = [p for p in (args.pred, args.gt, args.checkpoint, args.data) if p is not None]
    if args.csv is not None:
        check_not_input(args.csv, inputs, option="--csv")
        check_outside_projects(args.csv, option="--csv")
        check_new_file(args.csv, option="--csv", overwrite=args.overwrite)
    if args.predictions is not None:
        check_not_input(args.predictions, inputs, option="--predictions")
        check_outside(args.predictions, [p for p in (args.data,) if p is not None], option="--predictions")
        check_outside_projects(args.predictions, option="--predictions")
        check_empty_folder(args.predictions, option="--predictions", overwrite=args.overwrite)


def _parse_list(option: str, text: str | None, kind: type) -> list | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        values = [kind(item) for item in items]
    except ValueError:
        raise ConfigError(f"{option}: expected a comma-separated list like 1,2,3, got {text!r}") from None
    if not values:
        raise ConfigError(f"{option}: the list is empty")
    return values


def _score_files(pred: Path, gt: Path, labels: list[int] | None, *, binarize: bool, flat_as_2d: bool = True):
    """Score every matched file pair. Returns the labels scored and ``[(case, ClassMetrics)]``, case by case.

    The prediction must lie on its ground truth's voxel grid (``read_label`` checks shape and geometry); distances
    in mm use the ground truth's spacing.
    """
    from sra_seg_core.io import read_label
    from sra_seg_core.metrics import ClassMetrics, case_metrics, match_pairs

    pairs = match_pairs(pred, gt, on_unmatched=_warn_unmatched)
    given = labels is not None
    per_case: list[tuple[str, dict[int, ClassMetrics]]] = []
    gt_labels: set[int] = set()
    predicted: set[int] = set()
    for case, pred_file, gt_file in pairs:
        truth = read_label(gt_file, binarize=binarize)
        guess = read_label(pred_file, reference=truth, binarize=binarize)
        predicted |= _labels_in(guess.array)
        if labels is None:
            in_truth = _labels_in(truth.array)
            gt_labels |= in_truth
            # Until every ground truth is read the label set is unknown: score what either map holds here; a label
            # found later in another case is absent from both maps here, which scores 0 by the convention.
            case_labels = sorted(in_truth | _labels_in(guess.array))
        else:
            case_labels = labels
        scores = case_metrics(guess.array, truth.array, case_labels, truth.spacing_zyx, flat_as_2d=flat_as_2d)
        per_case.append((case, {m.label: m for m in scores}))

    if labels is None:
        if not gt_labels:
            raise InputError("the ground truth has no labelled voxels; pass --labels to score the predictions anyway",
                             gt)
        labels = sorted(gt_labels)
    stray = sorted(predicted - set(labels))
    if stray:  # a prediction numbered differently from its reference would otherwise just score low
        where = "are not among --labels" if given else "no ground truth has"
        print(f"warning: the predictions hold label value(s) {', '.join(map(str, stray))}, which {where}; they "
              "were not scored — check that predictions and ground truth use the same class numbers", file=sys.stderr)
    rows = [(case, scores[label] if label in scores else ClassMetrics.absent(label))
            for case, scores in per_case for label in labels]
    return labels, rows


def _labels_in(array) -> set[int]:
    """Non-zero values of an unsigned integer label map (``read_label``'s type)."""
    import numpy as np

    return {int(v) for v in np.flatnonzero(np.bincount(array.ravel()))} - {0}


def _warn_unmatched(files: list[Path]) -> None:
    print(f"warning: {len(files)} file(s) have no partner and were not scored:", file=sys.stderr)
    for path in files:
        print(f"  {path}", file=sys.stderr)


def _report(rows, label_names: dict[int, str] | None, csv_path: Path | None) -> None:
    """Print the summary table of ``[(case, ClassMetrics)]`` and write the CSV if asked; shared by every mode."""
    from sra_seg_core.metrics import format_summary, summarise, write_metrics_csv

    print(format_summary(summarise(rows), label_names))
    if csv_path is not None:
        print(f"per-case metrics written to {write_metrics_csv(csv_path, rows)}")
