"""Scoring a trained model on a split of a data set, as the published tables do (whole volumes, per class, 3-D).

The run's protocol (saved in the checkpoint) decides the resizing and whether a single-image case is scored as 2-D
(studio) or as the (1, H, W) volume (reference, as the released FIVES evaluation)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from sra_seg_core.errors import InputError


def score_checkpoint(checkpoint, data, *, split: str = "test", labels: list[int] | None = None, tta: bool = False,
                     device: str = "auto", predictions: Path | None = None,
                     on_case: Callable[[str], None] | None = None):
    """Run ``checkpoint`` (a path or a loaded model) on every case of ``split`` and score it.

    The split is made as the run made it: the run's data layout and split seed are stored in the checkpoint.
    Returns ``(labels, rows, names)``: the labels scored, ``[(case_id, ClassMetrics)]`` and the class names.
    ``predictions``: also write each predicted label map there as ``<case_id>.nii.gz`` (the image's geometry).
    """
    from sra_seg_core import datasets as ds
    from sra_seg_core.inference import LoadedModel, load_checkpoint, predict_image
    from sra_seg_core.io import write_image
    from sra_seg_core.metrics import case_metrics
    from sra_seg_core.protocol import config_choices

    loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_checkpoint(checkpoint, device)
    data_config = loaded.config.get("data", {})
    dataset = ds.discover(data, data_config.get("layout", "auto"), num_classes=loaded.num_classes)
    cases = ds.split_cases(dataset, seed=data_config.get("split_seed", 1337))[split]
    if not cases:
        raise InputError(f"the {split} split of this data set is empty", data)
    labels = labels or list(range(1, loaded.num_classes))
    flat_as_2d = config_choices(loaded.config).flat_as_2d  # the run's protocol decides how a 2-D case is scored
    rows = []
    for case in cases:
        image, truth = ds.load_volume(case, num_classes=dataset.num_classes, grey=dataset.grey,
                                      binarize=dataset.binarize_labels)
        if truth is None:
            raise InputError(f"case {case.case_id} has no ground truth to score against", case.image)
        pred = predict_image(loaded, image, tta=tta)
        if predictions is not None:
            write_image(image.with_array(pred, label=True), Path(predictions) / f"{case.case_id}.nii.gz")
        rows += [(case.case_id, m) for m in case_metrics(pred, truth.array, labels, truth.spacing_zyx,
                                                         flat_as_2d=flat_as_2d)]
        (on_case or (lambda name: print(f"scored {name}", file=sys.stderr)))(case.case_id)
    names = [loaded.class_names[k] if k < len(loaded.class_names) else str(k) for k in labels]
    return labels, rows, names
