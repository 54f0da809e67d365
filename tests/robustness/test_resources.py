"""Resource limits: big volumes are read once (memory-mapped when uncompressed), oversized images are refused from
their header, the window keeps running while a case loads, and the engine runs on the CPU when there is no GPU.

Memory is measured as the peak resident set of a fresh process (``ru_maxrss``), so nothing else the test run holds
blurs it; a memory-mapped file's pages count once they are touched.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bad_corpus import HUGE_SIDE, good_image, zero_png

from sra_seg_core.cli import main
from sra_seg_core.project import Project

LARGE_SHAPE = (512, 512, 380)  # (x, y, z) float32: 380 MiB of data, under the 100-megapixel read limit
MIB = 2**20


def peak_memory(code: str) -> dict:
    """Run ``code`` in a fresh interpreter after ``from sra_seg_core.io import read_image``; it sets ``result`` (a
    dict). Returns it with ``grown_mib``: how far the peak resident memory rose while ``code`` ran."""
    script = textwrap.dedent("""
        import json, resource, time
        from sra_seg_core.io import read_image
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        before, started, result = peak(), time.perf_counter(), {}
    """) + textwrap.dedent(code) + textwrap.dedent("""
        result.update(grown_mib=peak() - before, seconds=time.perf_counter() - started)
        print(json.dumps(result))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def nifti_header(shape) -> bytes:
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header["vox_offset"] = 352
    return header.binaryblock + bytes(4)


def sparse_nifti(path: Path, shape=LARGE_SHAPE) -> int:
    """An uncompressed NIfTI of zeros that takes no disk space (a sparse file); returns its data size in bytes."""
    size = int(np.prod(shape)) * 4
    with open(path, "wb") as fh:
        fh.write(nifti_header(shape))
        fh.truncate(352 + size)
    return size


def zero_nifti_gz(path: Path, shape=LARGE_SHAPE) -> int:
    """The same as a .nii.gz, compressed in milliseconds: one deflate block of zeros after a full flush is repeated
    (see ``bad_corpus.zero_png``). Returns the data size in bytes."""
    size, block = int(np.prod(shape)) * 4, 1 << 20
    assert size % block == 0
    raw = zlib.compressobj(1, zlib.DEFLATED, -15)
    head = raw.compress(nifti_header(shape)) + raw.flush(zlib.Z_FULL_FLUSH)
    zeros = raw.compress(bytes(block)) + raw.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(nifti_header(shape))
    for _ in range(size // block):
        crc = zlib.crc32(bytes(block), crc)
    total = 356 + size
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + head + zeros * (size // block) + b"\x03\x00"
                     + struct.pack("<II", crc, total & 0xFFFFFFFF))
    return size


def test_a_large_uncompressed_nifti_is_memory_mapped_and_held_in_memory_once(tmp_path):
    size = sparse_nifti(tmp_path / "large.nii")
    result = peak_memory(f"""
        import numpy as np
        image = read_image({str(tmp_path / "large.nii")!r})
        base = image.array
        while base.base is not None and not isinstance(base, np.memmap):
            base = base.base
        result["memmap"] = isinstance(base, np.memmap)
        result["max"] = float(image.array.max())   # one full pass, as normalisation or display makes
    """)
    assert result["memmap"] and result["max"] == 0.0
    assert result["grown_mib"] < 1.15 * size / MIB, result  # the mapped pages, plus small working buffers


@pytest.mark.slow
def test_a_large_compressed_nifti_is_decompressed_into_one_array(tmp_path):
    size = zero_nifti_gz(tmp_path / "large.nii.gz")
    result = peak_memory(f"""
        image = read_image({str(tmp_path / "large.nii.gz")!r})
        result["max"] = float(image.array.max())
    """)
    assert result["max"] == 0.0
    assert result["grown_mib"] < 1.15 * size / MIB, result  # nibabel alone peaks at two volumes


def test_a_20000_pixel_square_png_is_refused_from_its_header_fast_and_in_little_memory(tmp_path):
    zero_png(tmp_path / "huge.png", HUGE_SIDE, HUGE_SIDE)
    result = peak_memory(f"""
        from sra_seg_core.errors import InputError
        try:
            read_image({str(tmp_path / "huge.png")!r})
        except InputError as error:
            result["error"] = str(error)
    """)
    assert "400,000,000 pixels, over the limit" in result["error"]
    assert result["seconds"] < 1.0 and result["grown_mib"] < 20, result  # decoding would take 400 MB


def test_the_zero_png_generator_writes_a_valid_png(tmp_path):
    from sra_seg_core.io import read_image

    image = read_image(zero_png(tmp_path / "small.png", 300, 200))
    assert image.shape == (1, 200, 300) and not image.array.any()


# --- the window while a case loads -------------------------------------------------------------------------------
@pytest.fixture
def session(qtbot, project_path, tmp_path):
    """A session on a project of two cases whose image takes 0.4 s to read."""
    from sra_seg_app.model.session import Session

    with Project.open(project_path) as project:
        for name in ("first", "second"):
            project.import_image(good_image(tmp_path / "in" / f"{name}.nii.gz", shape=(3, 32, 32)))
    session = Session()
    session.open_project(project_path)
    real_read = session.project.read_image

    def slow_read(case_id):
        time.sleep(0.4)
        return real_read(case_id)

    session.project.read_image = slow_read
    yield session
    session.close_project()


def test_the_event_loop_keeps_running_while_a_case_loads(qtbot, session):
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication

    ticks, busy = [], []
    session.busyChanged.connect(busy.append)
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append((time.perf_counter(), session.case_id)))
    timer.start()
    session.select_case("second")
    timer.stop()
    assert session.case_id == "second" and session.image.source.name == "second.nii.gz"
    assert len(ticks) >= 15 and {case for _, case in ticks} == {"first"}  # ticked with the old case still shown
    assert busy == [True, False] and QGuiApplication.overrideCursor() is None


def test_a_case_asked_for_while_another_loads_is_shown_after_it(qtbot, session):
    from PySide6.QtCore import QTimer

    shown = []
    session.caseChanged.connect(shown.append)
    QTimer.singleShot(100, lambda: session.select_case("first", 2))  # e.g. a queued signal from another widget
    session.select_case("second")
    assert shown == ["second", "first"] and (session.case_id, session.z) == ("first", 2)


@pytest.mark.slow
def test_a_2048_pixel_fundus_photograph_loads_without_freezing_the_window(qtbot, tmp_path):
    from PySide6.QtCore import QTimer

    from sra_seg_app.main_window import MainWindow
    from sra_seg_core.phantoms import write_fives
    from sra_seg_core.project import named_classes

    write_fives(tmp_path / "fives", cases=2, test_fraction=0.0)
    with Project.create(tmp_path / "eyes", classes=named_classes(["vessel"])) as project:
        project.import_folder(tmp_path / "fives" / "train" / "Original", copy=True)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.open_project(tmp_path / "eyes")
    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.wait(50)
    start = time.perf_counter()
    window.session.select_case("002_D")
    end = time.perf_counter()
    timer.stop()
    during = [t for t in ticks if t > start]
    gaps = np.diff([start, *during, end])
    assert window.session.image.shape == (1, 2048, 2048)
    assert gaps.max() < 0.1, f"the window froze for {gaps.max():.3f} s while the case loaded in {end - start:.2f} s"


# --- no GPU -----------------------------------------------------------------------------------------------------------
def test_without_a_gpu_auto_means_the_cpu_and_asking_for_cuda_is_one_error_line(capsys, monkeypatch, phantoms,
                                                                                tmp_path):
    import torch

    from sra_seg_core.inference import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    code = main(["train", "--data", str(phantoms), "--method", "supervised", "--preset", "tiny", "--device", "cuda",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err == ("error: device 'cuda' asked for, but no CUDA GPU is available; use --device cpu or "
                                 "auto\n")
