"""A Studio project as training data: done slices are the labels, references validate, synthetic cases feed stage 2."""

from __future__ import annotations

import numpy as np
import pytest

from sra_seg_core import datasets as ds
from sra_seg_core.config import preset
from sra_seg_core.demo import create_demo_project
from sra_seg_core.errors import InputError
from sra_seg_core.project import SliceStatus
from sra_seg_core.trainer import Trainer


@pytest.fixture
def project(tmp_path):
    p = create_demo_project(tmp_path / "demo", real=3, labelled=1, synthetic=1)
    yield p
    p.close()


def test_project_is_detected_and_split_by_what_was_labelled(project):
    dataset = ds.discover(project.path)
    assert dataset.layout == "project" and dataset.num_classes == 4
    assert dataset.class_names == ["background", "RV", "Myo", "LV"]
    splits = ds.split_cases(dataset)
    assert {c.group for c in splits["train"]} == {"patient001"}
    assert {c.group for c in splits["val"]} == {"patient002", "patient003"} and splits["test"] == splits["val"]
    assert len(dataset.predefined["synthetic"]) == 2


def test_only_slices_marked_done_are_training_labels(project):
    case = next(c for c in project.cases if c.label)
    for z in range(1, case.shape[0]):
        project.set_slice_status(case.id, z, SliceStatus.IN_PROGRESS)
    train = [c for c in ds.split_cases(ds.discover(project.path))["train"] if c.case_id == case.id]
    assert train[0].slices == (0,)
    slices = ds.load_slices(train, size=32, num_classes=4)
    assert len(slices) == 1 and slices.slice_index.tolist() == [0]
    assert np.array_equal(slices.labels[0] > 0, ds.resize_slices(project.read_label(case.id).array[:1], 32,
                                                                    "nearest")[0] > 0)


def test_a_project_without_done_slices_cannot_train(tmp_path):
    p = create_demo_project(tmp_path / "demo", real=2, labelled=0, synthetic=1)
    p.close()
    with pytest.raises(InputError, match="no labelled slices"):
        ds.discover(tmp_path / "demo")


def test_training_reads_a_project_the_app_holds_open(project, tmp_path):
    c = preset("tiny")
    c.data.root = str(project.path)
    c.alignment.allow_untrained, c.alignment.download = True, False
    c.train.pretrain_iters = c.train.selftrain_iters = 2
    events = []
    result = Trainer(c, project.runs_dir / "run1", emit=events.append).run()
    assert result.status == "finished" and not project.read_only   # the lock stayed with its holder
    stage2 = next(e for e in events if e.event == "stage" and e.stage == "selftrain" and e.total)
    assert stage2 is not None
    meta = (project.runs_dir / "run1" / "run.json").read_text()
    assert "synthetic cases of the project" in meta
