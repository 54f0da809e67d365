"""Where a command may write: the output-safety rules of every ``sra-seg`` command, in one place.

1. Never one of the command's inputs, whatever ``--overwrite`` says: not the same path, not the same file under
   another name (a symlink or a hard link), not the input folder itself (masks would replace or mix with scans).
2. Never inside a project (a folder with ``project.json``, or below one): a project's files are written by the project
   alone, through its lock and its manifest. Training is the one exception: a run folder in the project's ``runs/``.
3. Never an existing run folder (one that has started: ``run.json``, ``events.jsonl`` or ``checkpoints/``); a run is
   continued with ``--resume``, which takes its lock.
4. An existing file, or a folder that already holds files, is replaced only with ``--overwrite``; a command's own
   earlier output that it recognises (an export folder with ``export.json``) may be written again.

Each check raises :class:`~sra_seg_core.errors.ConfigError` naming the option, the path and what to do, before the
command writes anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sra_seg_core import runs
from sra_seg_core.errors import ConfigError

PROJECT_MARKER = "project.json"     # sra_seg_core.project.manifest.MANIFEST_NAME (not imported: it pulls in numpy)
RUN_MARKERS = (runs.META_FILE, runs.EVENTS_FILE, runs.CHECKPOINT_DIR)


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links, bind mounts, case-folding disks
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def project_containing(path: str | os.PathLike) -> Path | None:
    """The project folder that ``path`` is (or lies inside), or None."""
    path = _resolved(path)
    for folder in (path, *path.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return None


def check_not_input(target: str | os.PathLike, inputs: Iterable[str | os.PathLike], *, option: str) -> None:
    """Rule 1: ``target`` is none of ``inputs`` (files or folders) nor the same file under another name."""
    out = _resolved(target)
    for source in inputs:
        src = _resolved(source)
        if _same(out, src):
            raise ConfigError(f"{option} {target} is the input {source}: writing there would destroy it (inputs "
                              "are never overwritten); choose another output")
        if src.is_dir() and _inside(out, src) and (out.is_file() or out.is_symlink()):
            raise ConfigError(f"{option} {target} is a file of the input folder {source}: writing there would "
                              "destroy it (inputs are never overwritten); choose an output outside that folder")


def check_outside(target: str | os.PathLike, folders: Iterable[str | os.PathLike], *, option: str) -> None:
    """``target`` is not inside any of ``folders`` (input data sets: new files there would join the data)."""
    out = _resolved(target)
    for folder in folders:
        if Path(folder).is_dir() and _inside(out, _resolved(folder)):
            raise ConfigError(f"{option} {target} is inside the input folder {folder}: the files written would "
                              "join its data; choose a folder outside it")


def check_outside_projects(target: str | os.PathLike, *, option: str, runs_allowed: bool = False) -> None:
    """Rule 2: ``target`` is not inside a project, except (``runs_allowed``) below the project's ``runs/``."""
    project = project_containing(target)
    if project is None:
        return
    if runs_allowed and (project / "runs") in _resolved(target).parents:
        return
    raise ConfigError(f"{option} {target} is inside the project {project}: a project's files are only written by the "
                      "project itself (import into it with `sra-seg project import`); choose a folder outside it")


def check_events_file(target: str | os.PathLike | None, inputs: Iterable[str | os.PathLike] = (), *,
                      option: str = "--events") -> None:
    """Rules 1 and 2 for an ``--events FILE`` (appended to, so an existing file is fine): not an input, and inside a
    project only in its ``runs/``. ``-`` (stdout) and None need no check."""
    if target is None or str(target) == "-":
        return
    check_not_input(target, inputs, option=option)
    check_outside_projects(target, option=option, runs_allowed=True)


def check_not_a_run(run_dir: str | os.PathLike, *, option: str = "--out") -> None:
    """Rule 3: ``run_dir`` is not a run that has started (a folder holding only a ``config.yaml`` is fine: the app
    writes one before it starts the trainer)."""
    path = Path(run_dir)
    found = [name for name in RUN_MARKERS if (path / name).exists()]
    if found:
        raise ConfigError(f"{option} {run_dir} is an existing run (it has {found[0]}); continue it with --resume "
                          f"{run_dir}, or choose a new folder")


def check_new_file(target: str | os.PathLike, *, option: str, overwrite: bool) -> None:
    """Rule 4 for one file: it does not exist yet, or ``overwrite``; never a folder."""
    path = Path(target)
    if path.is_dir() and not path.is_symlink():
        raise ConfigError(f"{option} {target} is a folder; name a file")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise ConfigError(f"{option} {target} already exists; pass --overwrite to replace it")


def check_empty_folder(folder: str | os.PathLike, *, option: str, overwrite: bool, own_marker: str | None = None
                       ) -> None:
    """Rule 4 for a folder: it is missing or empty, holds the command's own earlier output (``own_marker``), or
    ``overwrite``; never a file."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {folder} is a file, not a folder")
    if overwrite or not path.is_dir() or (own_marker and (path / own_marker).is_file()):
        return
    if any(path.iterdir()):
        raise ConfigError(f"{option} {folder} already holds files; choose an empty folder, or pass --overwrite to "
                          "write into it (files of the same name are replaced)")


def check_output(target: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *, option: str,
                 overwrite: bool = False, folder: bool = False, own_marker: str | None = None) -> None:
    """Rules 1, 2 and 4 for one output file (or ``folder``) of a command that reads ``inputs``."""
    check_not_input(target, inputs, option=option)
    check_outside_projects(target, option=option)
    if folder:
        check_empty_folder(target, option=option, overwrite=overwrite, own_marker=own_marker)
    else:
        check_new_file(target, option=option, overwrite=overwrite)
