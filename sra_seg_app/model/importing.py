"""Importing images into the open project, cancellable between two files; run off the GUI thread by the import
dialog through :class:`~sra_seg_app.model.worker.Worker` (the project lock belongs to this process, so not a child
process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sra_seg_core.project import ImportReport


class _Cancelled(Exception):
    """Raised from the progress callback to stop an import between two files."""


def import_sources(project, sources: list[Path], options: dict, *,
                   on_progress: Callable[[int, int, str], None] = lambda done, total, path: None,
                   cancelled: Callable[[], bool] = lambda: False) -> tuple[ImportReport, bool]:
    """Import a folder (one source that is a directory) or files; ``(report, whether it was cancelled)``.

    ``on_progress(files done, files in all, the file just done)``; ``cancelled()`` is asked after each file. A
    cancelled import keeps what it imported, and its report lists every file it looked at but did not import.
    Raises the SraSegError family or OSError when the import cannot start (e.g. the folder vanished).
    """
    before = {c.id for c in project.cases}
    seen: list[Path] = []

    def progress(done: int, total: int, path) -> None:
        seen.append(Path(path))
        on_progress(done, total, str(path))
        if cancelled() and done < total:
            raise _Cancelled

    try:
        if len(sources) == 1 and Path(sources[0]).is_dir():
            return project.import_folder(sources[0], on_progress=progress, **options), False
        return project.import_files(sources, on_progress=progress, **options), False
    except _Cancelled:
        # The store saved what it imported before the cancel but kept its report: rebuild it from the project.
        report = ImportReport(imported=[c for c in project.cases if c.id not in before])
        imported = {Path(c.source) for c in report.imported}
        report.skipped = [(p, "not imported: the import was cancelled before this file's problem was recorded; "
                              "import it again to see why") for p in seen if p.absolute() not in imported]
        return report, True
