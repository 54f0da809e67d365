"""Importing off the GUI thread: progress per file, and a cancel that keeps what was imported (no widgets)."""

from __future__ import annotations

import numpy as np

from sra_seg_core.image import Image
from sra_seg_core.io import write_image
from sra_seg_app.model.importing import import_sources


def write_folder(folder, n):
    for k in range(n):
        array = np.random.default_rng(k).random((2, 16, 16)).astype(np.float32)
        write_image(Image.from_spacing(array, (1.0, 1.0, 1.0)), folder / f"syn_{k:02d}.nii.gz")
    return folder


def test_an_import_reports_each_file_and_returns_its_report(session, tmp_path):
    seen = []
    report, cancelled = import_sources(session.project, [write_folder(tmp_path / "in", 3)], {"role": "synthetic"},
                                       on_progress=lambda done, total, path: seen.append((done, total)))
    assert not cancelled and len(report.imported) == 3 and seen[-1] == (3, 3)


def test_a_cancelled_import_keeps_what_it_imported_and_lists_the_rest(session, tmp_path):
    seen = []
    report, cancelled = import_sources(session.project, [write_folder(tmp_path / "in", 5)], {"role": "synthetic"},
                                       on_progress=lambda done, total, path: seen.append(done),
                                       cancelled=lambda: len(seen) >= 2)
    assert cancelled and 1 <= len(report.imported) <= 2
    ids = {c.id for c in session.project.cases}
    assert all(c.id in ids for c in report.imported)
