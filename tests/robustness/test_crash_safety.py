"""Crash safety: a process killed (SIGKILL) half-way through writing a file, or a write that fails half-way (a full
disk), leaves the previous file as it was and loses no completed work.

Kills are placed exactly: the child process replaces ``atomic_write`` so that, for one chosen file, it writes half of
the new contents to the temporary file and then kills itself — the worst moment, with bytes on disk and no rename.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from bad_corpus import good_image

from sra_seg_core import atomic
from sra_seg_core.cli import main
from sra_seg_core.io import read_image
from sra_seg_core.project import Project

# Run first in a child process. arm(name, after): every module's atomic_write is replaced, so that from the
# (after + 1)-th write of a file called ``name`` on, half of the new contents is written, then the process is killed.
KILL_HALF_WAY = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from sra_seg_core import atomic

    def arm(name, after=0):
        real, seen = atomic.atomic_write, []

        def dying(path, write):
            if Path(path).name != name:
                return real(path, write)
            if len(seen) < after:
                seen.append(path)
                return real(path, write)

            def half_then_die(tmp):
                write(tmp)
                data = tmp.read_bytes()
                tmp.write_bytes(data[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)

            return real(path, half_then_die)

        for module in list(sys.modules.values()):
            if getattr(module, "atomic_write", None) is real:
                module.atomic_write = dying
""")


def temporaries(folder: Path) -> list[str]:
    """Unfinished atomic writes (``.<stem>.<hex>.tmp<ext>``) anywhere under ``folder``."""
    return sorted(p.name for p in folder.rglob(".*.tmp*"))


def run_child(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILL_HALF_WAY + textwrap.dedent(script), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def one_case_project(project_path, tmp_path):
    """The empty project with one unlabelled 3 x 32 x 32 case."""
    with Project.open(project_path) as project:
        project.import_image(good_image(tmp_path / "in" / "scan.nii.gz", shape=(3, 32, 32)))
    return project_path


# --- (a) the app killed during autosave ------------------------------------------------------------------------------
APP_AUTOSAVE = """
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import numpy as np
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    import sra_seg_app.model.session as session_module
    session_module.AUTOSAVE_MS = 50
    from sra_seg_app.widgets.canvas import SliceCanvas

    project, target, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    session = session_module.Session()
    canvas = SliceCanvas(session)
    session.open_project(project)
    session.set_slice(1)
    canvas.active_class = 1
    canvas.paint_at(8, 8)
    session.save()                          # the last consistent state: a saved label
    np.save(out / "saved.npy", session.labels())
    (out / "saved.json").write_bytes((project / "project.json").read_bytes())
    for value, col in ((2, 20), (3, 26)):   # two more completed strokes, journaled, not saved
        canvas.active_class = value
        canvas.paint_at(20, col)
    np.save(out / "expected.npy", session.labels())
    arm(target.replace("CASE", session.case_id))
    print(session.case_id, flush=True)
    app.exec()                              # the autosave timer fires and dies half-way through the target
"""


@pytest.mark.parametrize("target", ["CASE.nii.gz", "project.json"], ids=["label-file", "manifest"])
def test_the_app_killed_half_way_through_an_autosave_loses_no_completed_stroke(qtbot, one_case_project, tmp_path,
                                                                              target):
    from sra_seg_app.model.session import Session

    child = run_child(APP_AUTOSAVE, one_case_project, target, tmp_path)
    assert child.returncode == -9, child.stderr
    case = child.stdout.split()[-1]
    assert temporaries(one_case_project)  # it died with a half-written file on disk
    if target == "project.json":  # the label file was replaced already; the manifest never was
        assert (one_case_project / "project.json").read_bytes() == (tmp_path / "saved.json").read_bytes()
    else:
        with Project.open(one_case_project, read_only=True) as project:  # the saved label file, untouched
            label = read_image(project.path / project.case(case).label).array
        assert np.array_equal(label, np.load(tmp_path / "saved.npy"))

    session = Session()
    session.open_project(one_case_project)
    assert np.array_equal(session.labels(case), np.load(tmp_path / "expected.npy"))
    assert session.recovered == ({case: 2} if target != "project.json" else {})  # strokes the saved file lacked
    assert temporaries(one_case_project) == []
    session.close_project()
    with Project.open(one_case_project, read_only=True) as project:
        assert np.array_equal(project.read_label(case).array, np.load(tmp_path / "expected.npy"))


# --- (b) training killed while it writes latest.pt -------------------------------------------------------------------
TRAIN_UNTIL_KILLED = """
    arm("latest.pt", after=1)                  # the first latest.pt (iteration 2) is written; the second dies
    from sra_seg_core.cli import main
    sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_training_killed_while_writing_latest_resumes_from_the_previous_one(capsys, phantoms, tmp_path):
    import torch

    args = ["train", "--data", phantoms, "--method", "supervised", "--preset", "tiny", "--device", "cpu", "--quiet",
            "--set", "train.num_threads=1"]
    child = run_child(TRAIN_UNTIL_KILLED, *args, "--out", tmp_path / "run")
    assert child.returncode == -9, child.stderr
    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    assert torch.load(latest, weights_only=True)["iteration"] == 2
    assert temporaries(tmp_path / "run")

    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 0
    assert main([*map(str, args), "--out", str(tmp_path / "reference")]) == 0
    resumed = torch.load(latest, weights_only=True)
    reference = torch.load(tmp_path / "reference" / "checkpoints" / "latest.pt", weights_only=True)
    assert resumed["iteration"] == reference["iteration"] == 8
    assert all(torch.equal(resumed["model"][k], reference["model"][k]) for k in reference["model"])
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"


def test_an_event_log_torn_by_a_kill_goes_on_from_a_fresh_line(tmp_path):
    from sra_seg_core.events import Event, JsonLinesSink, read_events

    log = tmp_path / "events.jsonl"
    log.write_text(Event("progress", stage="pretrain", iteration=3).to_json() + "\n" + '{"event": "progr')
    sink = JsonLinesSink(log)  # what a resumed run does
    sink(Event("stage", message="loading data"))
    sink.close()
    assert [(e.event, e.iteration) for e in read_events(log.read_text().splitlines())] == [("progress", 3),
                                                                                          ("stage", 0)]


# --- (c) a write that fails half-way, as on a full disk --------------------------------------------------------------
@pytest.fixture
def disk_full(monkeypatch):
    """``disk_full(name, after=0)``: from the ``after + 1``-th atomic write of a file called ``name`` on, each fails
    half-way with ENOSPC. Returns a dict that collects each such file's contents at the moment its write failed."""
    import sra_seg_core.export  # noqa: F401  (import every writer first: they bind atomic_write by name)
    import sra_seg_core.trainer  # noqa: F401

    real, previous = atomic.atomic_write, {}

    def arm(name: str, after: int = 0) -> dict[Path, bytes | None]:
        written = []

        def failing(path, write):
            path = Path(path)
            if path.name != name:
                return real(path, write)
            if len(written) < after:
                written.append(path)
                return real(path, write)
            previous[path] = path.read_bytes() if path.exists() else None

            def half_then_full(tmp):
                write(tmp)
                data = tmp.read_bytes()
                tmp.write_bytes(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            return real(path, half_then_full)

        for module in list(sys.modules.values()):
            if getattr(module, "atomic_write", None) is real:
                monkeypatch.setattr(module, "atomic_write", failing)
        return previous

    return arm


def test_a_label_write_that_fails_leaves_the_saved_label_and_the_journal(one_case_project, disk_full):
    with Project.open(one_case_project) as project:
        case = project.cases[0].id
        first = np.zeros(project.cases[0].shape, np.uint8)
        first[1, 4:9, 4:9] = 1
        project.save_label(case, first)
        project.append_stroke(case, 2, np.arange(5), np.zeros(5, np.uint8), np.full(5, 3, np.uint8))
        manifest = (one_case_project / "project.json").read_bytes()
        previous = disk_full(f"{case}.nii.gz")
        with pytest.raises(OSError, match="No space left on device") as error:
            project.save_label(case, project.read_label(case).array)
        label_file = one_case_project / "labels" / f"{case}.nii.gz"
        assert error.value.filename == str(label_file)
        assert label_file.read_bytes() == previous[label_file]
        assert (one_case_project / "project.json").read_bytes() == manifest
        assert project.pending_strokes(case) == 1 and temporaries(one_case_project) == []


def test_a_manifest_write_that_fails_leaves_the_previous_manifest(one_case_project, disk_full):
    with Project.open(one_case_project) as project:
        previous = disk_full("project.json")
        with pytest.raises(OSError, match="No space left on device"):
            project.set_slice_status(project.cases[0].id, 0, "f")
    manifest = one_case_project / "project.json"
    assert manifest.read_bytes() == previous[manifest] and temporaries(one_case_project) == []
    with Project.open(one_case_project, read_only=True) as project:
        assert project.cases[0].slice_status == "..."


def test_the_app_says_when_autosave_fails_and_keeps_the_strokes(qtbot, one_case_project, disk_full):
    from sra_seg_app.widgets.canvas import SliceCanvas
    from sra_seg_app.model.session import SaveError, Session

    session = Session()
    canvas = SliceCanvas(session)
    qtbot.addWidget(canvas)
    session.open_project(one_case_project)
    canvas.paint_at(10, 10)
    disk_full(f"{session.case_id}.nii.gz")
    messages = []
    session.message.connect(messages.append)
    with pytest.raises(SaveError):
        session.save()
    assert session.dirty and "No space left on device" in messages[-1] and "journal" in messages[-1]
    assert session.project.pending_strokes(session.case_id) == 1
    expected = session.labels().copy()
    with pytest.raises(SaveError):
        session.close_project()  # saving fails again: the view asks, and may close anyway
    session.close_project(force=True)  # nothing is lost: the journal is replayed at the next opening
    session.open_project(one_case_project)
    assert session.recovered == {session.case_id: 1} and "stay safe in the journal" in messages[-1]
    assert np.array_equal(session.labels(), expected)


def tiny_supervised_run():
    """A tiny supervised config and 4 random 32² slices, for tests of the trainer's checkpoint writes."""
    import torch

    from sra_seg_core.config import preset
    from sra_seg_core.trainer import TrainData, ValVolume

    rng = np.random.default_rng(0)
    images = rng.random((4, 32, 32)).astype(np.float32)
    labels = (images > 0.5).astype(np.int64)
    data = TrainData(torch.from_numpy(images)[:, None], torch.from_numpy(labels), None,
                     [ValVolume("v", images[:2], labels[:2].astype(np.uint8))], 2, ["background", "a"])
    config = preset("tiny")
    for key, value in {"train.method": "supervised", "data.image_size": 32, "train.num_threads": 1}.items():
        config.set(key, value)
    return config, data


def test_a_checkpoint_write_that_fails_leaves_the_previous_checkpoint(tmp_path, disk_full):
    import torch

    from sra_seg_core.trainer import Trainer

    config, data = tiny_supervised_run()
    previous = disk_full("latest.pt", after=1)  # iteration 2 is saved; at iteration 4 the disk is full
    with pytest.raises(OSError, match="No space left on device"):
        Trainer(config, tmp_path / "run", data=data).run()
    run_dir = tmp_path / "run"
    latest = run_dir / "checkpoints" / "latest.pt"
    assert latest.read_bytes() == previous[latest] and temporaries(run_dir) == []
    assert torch.load(latest, weights_only=True)["iteration"] == 2


def test_a_checkpoint_write_torch_reports_as_runtime_error_is_an_os_error_naming_the_file(tmp_path, monkeypatch):
    """torch's zip writer reports a full disk as ``RuntimeError: PytorchStreamWriter failed writing file``; the
    trainer turns it into the OSError every other failed write is, naming the checkpoint, and keeps the previous."""
    import torch

    from sra_seg_core import trainer as trainer_module
    from sra_seg_core.trainer import Trainer

    config, data = tiny_supervised_run()
    trainer = Trainer(config, tmp_path / "run", data=data)
    trainer.ckpt_dir.mkdir(parents=True, exist_ok=True)
    latest = trainer.ckpt_dir / "latest.pt"
    latest.write_bytes(b"the previous checkpoint")
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:100])
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed")

    monkeypatch.setattr(trainer_module.torch, "save", failing_save)
    with pytest.raises(OSError, match=r"could not write the checkpoint .*file write failed") as raised:
        trainer._save("latest.pt", {"iteration": 3})
    assert raised.value.filename == str(latest)
    assert latest.read_bytes() == b"the previous checkpoint" and temporaries(tmp_path / "run") == []


def test_an_export_that_fails_half_way_keeps_the_previous_export(one_case_project, tmp_path, disk_full):
    from sra_seg_core.export import export_project

    with Project.open(one_case_project) as project:
        case = project.cases[0].id
        project.save_label(case, np.ones(project.cases[0].shape, np.uint8))
        export_project(project, tmp_path / "export")
        exported = tmp_path / "export" / "nifti" / f"{case}.nii.gz"
        before = exported.read_bytes()
        project.save_label(case, np.full(project.cases[0].shape, 2, np.uint8))
        disk_full(exported.name)
        report = export_project(project, tmp_path / "export")
    assert report.failed == [(case, f"{exported}: No space left on device")]
    assert exported.read_bytes() == before and temporaries(tmp_path / "export") == []


def test_convert_onto_a_full_disk_is_one_error_line_and_keeps_the_previous_output(capsys, tmp_path, disk_full):
    source = good_image(tmp_path / "scan.nii.gz")
    output = tmp_path / "scan.nrrd"
    assert main(["convert", str(source), str(output)]) == 0
    before = output.read_bytes()
    capsys.readouterr()
    disk_full(output.name)
    assert main(["convert", str(source), str(output), "--overwrite"]) == 2
    assert capsys.readouterr().err == f"error: {output}: No space left on device\n"
    assert output.read_bytes() == before and temporaries(tmp_path) == []
