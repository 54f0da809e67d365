"""The project folder: imported cases, approved labels, predictions and runs, where nothing a user drew is lost.

Layout::

    project.json                manifest (see :mod:`.manifest`)
    images/<case_id>.<ext>      copies of images imported with copy=True
    labels/<case_id>.nii.gz     approved labels, uint8, on the image's grid
    labels/<case_id>.journal    strokes since that label was last saved (see :mod:`.journal`)
    reference/<case_id>.nii.gz  reference ground truth kept for metrics, never edited (only renumbered when a class
                                is removed)
    predictions/<case_id>.nii.gz  model predictions, apart from approved labels
    runs/<run_name>/            training runs; the trainer writes inside
    .lock                       the write lock (see :mod:`.lock`)

Every file is written atomically, then the manifest, so a crash leaves either the old state or the new one. Writes
that create files happen before the manifest names them, and removals after the manifest forgets them; a crash in
between leaves only an unreferenced file, and new case ids never reuse a name that has files.

A project folder may come from anywhere (an archive, a share), so its own files are never opened through a symbolic
link and must be regular files (:mod:`sra_seg_core.regular_files`): a FIFO where a label should be is an error, not a
hang. A project whose ``.lock`` or top-level folders are links is not opened for writing, so no write and no
clean-up can land outside it.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from sra_seg_core import io
from sra_seg_core.atomic import atomic_write, atomic_write_json, split_suffix
from sra_seg_core.errors import ConfigError, InputError, ProjectError, SraSegError, error_line
from sra_seg_core.image import Image
from sra_seg_core.project.classes import DEFAULT_CLASSES, LabelClass, class_problem
from sra_seg_core.project.journal import NO_BASE, Journal, Stroke, file_digest, replay
from sra_seg_core.project.lock import LOCK_NAME, ProjectLock
from sra_seg_core.project.status import labelled_slices
from sra_seg_core.project.manifest import (
    CASE_ID,
    MANIFEST_NAME,
    ROLES,
    CaseRecord,
    Manifest,
    SliceStatus,
    parse_manifest,
)
from sra_seg_core.project.pairing import find_label, label_index, labels_among
from sra_seg_core.regular_files import check_regular, load_json

LABEL_ROLES = ("approved", "reference")
_FOLDERS = ("images", "labels", "reference", "predictions", "runs")
_ACDC_PATIENT = re.compile(r"^(patient\d+)(?:_|$)")
# left by a write that crashed before its rename (see sra_seg_core.atomic)
_ATOMIC_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp")
# header + data file formats, copied into the project as the one-file variant of the same format
_DETACHED_COPIES = {".mhd": ".mha", ".nhdr": ".nrrd"}


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _safe_id(name: str) -> str:
    """A case id from a file name: unsafe characters become '_', and it starts with a letter or digit."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip("._-")[:100]  # room for "_frameNN-N" within 128
    return cleaned or "case"


@dataclass
class ImportReport:
    """What an import did: the cases added, every image not imported with the reason why, and the files passed
    over because they are not images (notes, ACDC's Info.cfg)."""

    imported: list[CaseRecord] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    def extend(self, other: ImportReport) -> None:
        self.imported += other.imported
        self.skipped += other.skipped
        self.ignored += other.ignored


class Project:
    """An open project folder. Use :meth:`create` or :meth:`open`; close it (or use ``with``) to free the lock.

    Opened for writing, it holds the folder's lock, so no second process can write it; opened read-only, every
    method that would write raises ProjectError.
    """

    def __init__(self, path: Path, manifest: Manifest, lock: ProjectLock | None):
        self.path = path
        self._manifest = manifest
        self._lock = lock
        self._geometry: dict[str, tuple[np.ndarray, dict]] = {}
        self._journals: dict[str, Journal] = {}
        self._sources: dict[tuple, str] | None = None

    # --- opening and closing --------------------------------------------------------------------------------------
    @classmethod
    def create(cls, folder, name: str | None = None, classes: list[LabelClass] | None = None) -> Project:
        """Make a new project in ``folder`` (created if missing, else it must be empty) and open it for writing."""
        path = Path(folder).expanduser().absolute()
        classes = list(DEFAULT_CLASSES if classes is None else classes)
        problem = class_problem(classes)
        if problem:
            raise ConfigError(problem)
        if (path / MANIFEST_NAME).exists():
            raise ProjectError("this folder already holds a project; open it instead", path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ProjectError("not an empty folder; choose a new or empty folder for the project", path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create the project folder ({exc.strerror})", path) from exc
        lock = ProjectLock(path)
        try:
            if any(p.name != LOCK_NAME for p in path.iterdir()):  # another process got here between check and lock
                raise ProjectError("not an empty folder; choose a new or empty folder for the project", path)
            for sub in _FOLDERS:
                (path / sub).mkdir()
            now = _now()
            project = cls(path, Manifest(name or path.name, now, now, classes), lock)
            project.save()
        except BaseException:
            lock.release()
            raise
        return project

    @classmethod
    def open(cls, folder, read_only: bool = False) -> Project:
        """Open an existing project; for writing, take its lock (ProjectLockedError names who holds it)."""
        path = Path(folder).expanduser().absolute()
        manifest_path = path / MANIFEST_NAME
        if not path.is_dir():
            raise ProjectError("no such project folder", path)
        if not os.path.lexists(manifest_path):  # anything else under that name is refused when it is read
            raise ProjectError(
                f"not an SRA-Seg project (no {MANIFEST_NAME}); create one with `sra-seg project create`", path
            )
        lock = None
        if not read_only:
            if not os.access(path, os.W_OK):
                raise ProjectError("no permission to write to the project folder; open it read-only to view it", path)
            _check_own_folders(path)
            lock = ProjectLock(path)
        try:
            manifest = parse_manifest(_load_json(manifest_path), manifest_path)
            if lock is not None:
                _remove_atomic_leftovers(path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return cls(path, manifest, lock)

    def close(self) -> None:
        """Free the write lock. Reading still works afterwards; writing raises ProjectError."""
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return f"Project({str(self.path)!r}, {len(self.cases)} cases, {mode})"

    # --- manifest -------------------------------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        return self._lock is None

    @property
    def name(self) -> str:
        return self._manifest.name

    @property
    def classes(self) -> list[LabelClass]:
        return self._manifest.classes

    @property
    def cases(self) -> list[CaseRecord]:
        return self._manifest.cases

    @property
    def settings(self) -> dict:
        """Project-level settings (JSON values), saved with the manifest."""
        return self._manifest.settings

    @property
    def problems(self) -> list[str]:
        """What was wrong in the manifest but mended on opening (e.g. a setting of the wrong type reset), to show."""
        return self._manifest.problems

    @property
    def num_classes(self) -> int:
        """Label values in use, background included: ``len(classes) + 1``."""
        return len(self.classes) + 1

    def case(self, case_id: str) -> CaseRecord:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise ProjectError(f"no case {case_id!r} in this project", self.path)

    def set_classes(self, classes: list[LabelClass], *, in_memory: dict | None = None) -> None:
        """Replace the label classes (rename, recolour, add; remove only the last ones) and save the manifest.

        A removed value still held by a label file, or by a label volume in ``in_memory`` (case -> array, the app's
        unsaved edits), is refused: the label maps would hold a class the project no longer has.
        """
        self._check_writable()
        problem = class_problem(list(classes))
        if problem:
            raise ProjectError(problem, self.path)
        gone = len(self.classes) - len(classes)
        if gone > 0:
            first = len(classes) + 1
            arrays = dict(in_memory or {})
            for case in self.cases:
                if case.id not in arrays and case.label:
                    arrays[case.id] = self.read_label(case.id).array
            for case_id, array in arrays.items():
                if array is not None and np.asarray(array).max(initial=0) >= first:
                    raise ProjectError(f"class {first} is still painted in case {case_id}: erase it there first",
                                       self.path)
        self._manifest.classes = list(classes)
        self.save()

    def class_voxels(self, value: int, *, in_memory: dict | None = None) -> dict[str, int]:
        """Voxels of class ``value`` in each case's approved label, unsaved strokes included (an array of
        ``in_memory``, case -> (Z, Y, X), stands for the saved one): only the cases that hold some."""
        arrays = dict(in_memory or {})
        counts = {}
        for case in self.cases:
            array = arrays.get(case.id)
            if array is None and (case.label is not None or self.pending_strokes(case.id)):
                array = self.read_label(case.id).array
            n = 0 if array is None else int(np.count_nonzero(np.asarray(array) == value))
            if n:
                counts[case.id] = n
        return counts

    def remove_class(self, value: int) -> dict[str, int]:
        """Remove class ``value``: in every approved label (unsaved strokes included), reference and prediction its
        voxels become background and the classes above it move down one value; then the classes and the hidden /
        locked view in the manifest follow. Returns the voxels that became background per case's approved label.

        Maps are rewritten one at a time, each atomically into the project's own folders (a label or reference that
        lies outside the project is never written), then the manifest. If a write fails, the maps rewritten so far
        are put back — the removed voxels' positions are kept for that — and ProjectError says why: the project is
        then as it was. There is no undo afterwards, so the app asks first (:meth:`class_voxels` says what is lost).
        """
        # class_table imports annotation, which imports this package: a module-level import would be circular
        from sra_seg_core.project.class_table import removed, renumbering, view_without

        self._check_writable()
        new_classes = removed(self.classes, value)
        lut = renumbering(len(self.classes), value)
        rewritten: list[tuple[CaseRecord, str, str | None, np.ndarray]] = []  # case, map, its old file, removed voxels
        lost: dict[str, int] = {}
        old_classes, old_settings = list(self.classes), dict(self.settings)
        try:
            for case in self.cases:
                for kind in ("label", "reference", "prediction"):
                    array = self._class_map(case, kind)
                    if array is None or array.max(initial=0) < value:
                        continue
                    gone = np.flatnonzero(array == value)
                    if kind == "label" and gone.size:
                        lost[case.id] = int(gone.size)
                    previous = getattr(case, kind)
                    self._write_class_map(case, kind, lut[array])
                    rewritten.append((case, kind, previous, gone))
            self._manifest.classes = new_classes
            self._manifest.settings = view_without(old_settings, value)
            self.save()
        except (SraSegError, OSError, ValueError) as exc:
            self._manifest.classes, self._manifest.settings = old_classes, old_settings
            self._put_back(rewritten, value)
            raise ProjectError(f"class {value} was not removed ({error_line(exc)}); the label maps are as they were",
                               self.path) from exc
        return lost

    def _class_map(self, case: CaseRecord, kind: str) -> np.ndarray | None:
        """The (Z, Y, X) uint8 approved label (journal replayed), reference or prediction of ``case``; None if none."""
        if kind == "label":
            has = case.label is not None or self.pending_strokes(case.id)
            return np.asarray(self.read_label(case.id).array, np.uint8) if has else None
        image = self.read_reference(case.id) if kind == "reference" else self.read_prediction(case.id)
        return None if image is None else np.asarray(image.array, np.uint8)

    def _write_class_map(self, case: CaseRecord, kind: str, array: np.ndarray) -> None:
        if kind == "label":
            self._store_label(case, array, done=())
            return
        target = self._reference_path(case.id) if kind == "reference" else self._prediction_path(case.id)
        self._write_label_map(case, array, target)
        setattr(case, kind, target.relative_to(self.path).as_posix())
        self.save()

    def _put_back(self, rewritten: list, value: int) -> None:
        """Undo :meth:`remove_class`'s rewrites after a failure: each map renumbered up again, its removed voxels set
        back to ``value``; a reference that lay elsewhere (outside the project) is named again and the copy dropped.
        A label is always written back into the project: its file then holds the strokes its journal held."""
        up = np.arange(len(self.classes) + 1)
        up = np.where(up >= value, up + 1, up).astype(np.uint8)
        up[0] = 0
        for case, kind, previous, gone in reversed(rewritten):
            try:
                current = getattr(case, kind)
                if kind != "label" and previous is not None and previous != current:
                    setattr(case, kind, previous)
                    self.save()
                    (self.path / current).unlink(missing_ok=True)
                    continue
                array = up[self._class_map(case, kind)]
                array.reshape(-1)[gone] = value
                self._write_class_map(case, kind, array)
            except (SraSegError, OSError, ValueError):  # best effort: the first error is the one to report
                pass

    def save(self) -> None:
        """Write the manifest atomically, stamping ``modified``."""
        self._check_writable()
        self._manifest.modified = _now()
        atomic_write_json(self.path / MANIFEST_NAME, self._manifest.to_json())

    def _check_writable(self) -> None:
        if self._lock is None:
            raise ProjectError(
                "the project is open read-only; close it and open it for writing to change it", self.path
            )
        if not self._lock.held:
            raise ProjectError("the project was closed; open it again to change it", self.path)

    def _writable_case(self, case_id: str) -> CaseRecord:
        self._check_writable()
        return self.case(case_id)

    # --- importing ------------------------------------------------------------------------------------------------
    def import_image(
        self,
        path,
        *,
        role: str = "real",
        copy: bool = False,
        label=None,
        label_as: str = "approved",
        frame: int | None = None,
        case_id: str | None = None,
        group: str | None = None,
    ) -> CaseRecord:
        """Add one image (and optionally its label) as a new case; the project is unchanged if anything fails.

        The image and label are read in full first, so a bad file raises InputError before anything is written.
        copy=True copies the file into ``images/`` (a DICOM series folder is stored as NIfTI, a ``.mhd`` / ``.nhdr``
        header and its data file as one ``.mha`` / ``.nrrd``); otherwise the case
        references the file where it lies. An approved label marks every slice done; a reference label is kept
        for metrics only. The label must be on the image's grid with values 0..len(classes).
        """
        self._check_writable()
        _check_import_options(role, label_as)
        case, written = self._import(Path(path), role, copy, label, label_as, frame, case_id, group)
        try:
            self.save()
        except BaseException:
            self.cases.remove(case)
            self._sources = None
            for file in written:
                file.unlink(missing_ok=True)
            raise
        return case

    def import_files(
        self,
        paths: Iterable,
        *,
        role: str = "real",
        copy: bool = False,
        label_folder=None,
        label_as: str = "approved",
        on_progress: Callable[[int, int, Path], None] | None = None,
    ) -> ImportReport:
        """Import image files, each with its label found by name (see :mod:`.pairing`); bad files are skipped.

        Files that are another listed file's ``_gt``/``_label``/``_seg`` are taken as labels, not images.
        ``on_progress(done, total, path)`` is called after each file. The manifest is saved once, at the end.
        """
        self._check_writable()
        _check_import_options(role, label_as)
        paths = [Path(p).expanduser().absolute() for p in paths]
        labels = label_index(io.list_images(Path(label_folder))) if label_folder is not None else None
        paired = labels_among(paths)
        images = [p for p in paths if p not in paired]
        report = ImportReport()
        try:
            for done, image in enumerate(images, 1):
                try:
                    label = find_label(image, labels)
                    report.imported.append(self._import(image, role, copy, label, label_as, None, None, None)[0])
                except SraSegError as exc:
                    # name the file at fault when it is the label, not the image
                    report.skipped.append((image, exc.reason if exc.path in (None, str(image)) else str(exc)))
                if on_progress is not None:
                    on_progress(done, len(images), image)
        finally:
            if report.imported:
                self.save()
        return report

    def import_folder(
        self,
        folder,
        *,
        role: str = "real",
        copy: bool = False,
        label_folder=None,
        label_as: str = "approved",
        on_progress: Callable[[int, int, Path], None] | None = None,
    ) -> ImportReport:
        """Import every image under ``folder``, subfolders included (see :meth:`import_files`).

        A folder holding ``.dcm`` files is one DICOM series, imported as one image. Files that are not images are
        listed in ``ignored``, so nothing is passed over silently.
        """
        self._check_writable()
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError("not a folder", folder)
        images, ignored = _collect_images(folder)
        report = ImportReport(ignored=ignored)
        report.extend(
            self.import_files(
                images, role=role, copy=copy, label_folder=label_folder, label_as=label_as, on_progress=on_progress
            )
        )
        return report

    def _import(self, source, role, copy, label, label_as, frame, case_id, group) -> tuple[CaseRecord, list[Path]]:
        """Read and check, then write the case's files and add it to the manifest in memory (not saved)."""
        source = source.expanduser().absolute()
        key = (_source_key(str(source)), frame)
        if key in self._source_index():
            raise InputError(f"already in the project as case {self._source_index()[key]!r}", source)
        image = io.read_image(source, frame=frame)
        label_image = None
        if label is not None:
            label_image = io.read_label(
                Path(label), reference=image, num_classes=self.num_classes, binarize=self.num_classes == 2
            )
        case_id = self._new_case_id(case_id, source, frame)

        written: list[Path] = []
        try:
            image_ref, stored_frame = str(source), frame
            if copy and source.is_dir():  # a DICOM series: one NIfTI file instead of hundreds of slices
                stored, stored_frame = self.path / "images" / f"{case_id}.nii.gz", None
                io.write_image(image, stored)
            elif copy and split_suffix(source)[1].lower() in _DETACHED_COPIES:
                # the header names a data file: store one file that holds both, in the same format family
                stored = self.path / "images" / f"{case_id}{_DETACHED_COPIES[split_suffix(source)[1].lower()]}"
                stored_frame = None
                io.write_image(image, stored)
            elif copy:  # the file as it was, byte for byte; a copied 4-D file is still read with its frame
                stored = self.path / "images" / f"{case_id}{split_suffix(source)[1].lower()}"
                atomic_write(stored, lambda tmp: shutil.copyfile(source, tmp))
            if copy:
                written.append(stored)
                image_ref = stored.relative_to(self.path).as_posix()
            case = CaseRecord(
                id=case_id,
                role=role,
                image=image_ref,
                copied=copy,
                shape=image.shape,
                spacing=image.spacing,
                frame=stored_frame,
                group=group or _default_group(case_id),
                added=_now(),
                source=str(source),
            )
            if label_image is not None:
                folder = "labels" if label_as == "approved" else "reference"
                target = self.path / folder / f"{case_id}.nii.gz"
                io.write_image(image.with_array(label_image.array.astype(np.uint8), label=True), target, dtype=np.uint8)
                written.append(target)
                relative = target.relative_to(self.path).as_posix()
                if label_as == "approved":
                    case.label = relative
                    case.slice_status = SliceStatus.DONE.value * case.shape[0]
                else:
                    case.reference = relative
        except BaseException:
            for file in written:
                file.unlink(missing_ok=True)
            raise
        self.cases.append(case)
        self._source_index()[key] = case_id
        self._geometry[case_id] = (image.affine, image.meta)
        return case, written

    def _source_index(self) -> dict[tuple, str]:
        """(source identity, frame) -> case id, to find an image imported before under another path spelling."""
        if self._sources is None:
            self._sources = {(_source_key(c.source), c.frame): c.id for c in self.cases if c.source}
        return self._sources

    def _new_case_id(self, requested: str | None, source: Path, frame: int | None) -> str:
        if requested is not None:
            if not CASE_ID.match(requested):
                raise ConfigError(f"case id {requested!r} may only hold letters, digits, '.', '_' and '-'")
            if self._id_taken(requested):
                raise ConfigError(f"case id {requested!r} is already used in this project")
            return requested
        base = _safe_id(split_suffix(source)[0] if source.is_file() else source.name)
        if frame is not None:
            base = f"{base}_frame{frame:02d}"
        candidate, n = base, 1
        while self._id_taken(candidate):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _id_taken(self, case_id: str) -> bool:
        """Used by a case (ignoring letter case, for case-insensitive file systems) or by a leftover file."""
        if any(case.id.lower() == case_id.lower() for case in self.cases):
            return True
        return any(p.exists() for p in self._owned_files(case_id)) or any((self.path / "images").glob(f"{case_id}.*"))

    def _owned_files(self, case_id: str) -> list[Path]:
        """The files a case may have under labels/, reference/ and predictions/."""
        return [
            self._label_path(case_id),
            self._journal(case_id).path,
            self._reference_path(case_id),
            self._prediction_path(case_id),
        ]

    def discard_leftovers(self, case_id: str) -> None:
        """Delete the files an import of ``case_id`` wrote before it was interrupted (the manifest, saved last, never
        named them), so the id can be imported again. Raises ConfigError for an id that is a case."""
        self._check_writable()
        if any(case.id.lower() == case_id.lower() for case in self.cases):
            raise ConfigError(f"case {case_id!r} is in the project: its files are not leftovers")
        if not CASE_ID.match(case_id):
            raise ConfigError(f"case id {case_id!r} may only hold letters, digits, '.', '_' and '-'")
        kept = {self.path / c.image for c in self.cases if c.copied}   # "a.*" also matches case "a.b"'s image
        for path in [*self._owned_files(case_id), *(self.path / "images").glob(f"{case_id}.*")]:
            if path not in kept:
                _unlink_file(path)

    def remove_case(self, case_id: str) -> None:
        """Forget a case and delete its files in the project; a referenced source image is never touched.

        Only the case's own names are deleted (the manifest cannot name others, see :mod:`.manifest`), and only
        files or links (a link itself, never what it names); a folder under such a name is left alone.
        """
        case = self._writable_case(case_id)
        self.cases.remove(case)
        self._sources = None
        self.save()
        doomed = self._owned_files(case.id)
        doomed += [self.path / p for p in (case.label, case.reference, case.prediction) if p is not None]
        if case.copied:
            doomed.append(self.path / case.image)
        for path in doomed:
            _unlink_file(path)
        self._geometry.pop(case.id, None)
        self._journals.pop(case.id, None)

    # --- reading --------------------------------------------------------------------------------------------------
    def image_path(self, case_id: str) -> Path:
        """Where the case's image file is (inside the project when copied)."""
        case = self.case(case_id)
        return self.path / case.image if case.copied else Path(case.image)

    def read_image(self, case_id: str) -> Image:
        """The case's image, (Z, Y, X) in its stored dtype, with its geometry."""
        case = self.case(case_id)
        path = self.image_path(case_id)
        if case.copied:
            check_regular(path, follow_links=False, error=ProjectError)
        if not path.exists():
            raise ProjectError(
                f"the image of case {case_id!r} is missing; put it back or remove the case from the project", path
            )
        image = io.read_image(path, frame=case.frame)
        if image.shape != case.shape:
            raise ProjectError(
                f"the image of case {case_id!r} has shape {image.shape} but had {case.shape} when imported; "
                "it was changed — put the original back or import it again",
                path,
            )
        self._geometry[case_id] = (image.affine, image.meta)
        return image

    def read_label(self, case_id: str) -> Image:
        """The approved label, (Z, Y, X) uint8 on the image's grid (zeros if none), with unsaved strokes replayed."""
        case = self.case(case_id)
        if case.label is not None:
            label = self._read_label_file(case, self.path / case.label)
            # a label is written on its image's grid: saving it back needs no read of the image
            self._geometry.setdefault(case_id, (label.affine, label.meta))
            array = np.array(label.array, dtype=np.uint8)
        else:
            array = np.zeros(case.shape, np.uint8)
        affine, meta = self._image_geometry(case)
        journal = self._journal(case_id)
        try:
            replay(array, journal.strokes(self._label_digest(case)))
        except ValueError as exc:
            raise ProjectError(f"{exc}; the journal belongs to another volume — move it away", journal.path) from exc
        return Image(array, affine, None, meta)

    def read_reference(self, case_id: str) -> Image | None:
        """The reference ground truth, (Z, Y, X) uint8, or None."""
        case = self.case(case_id)
        return None if case.reference is None else self._read_label_file(case, self.path / case.reference)

    def read_prediction(self, case_id: str) -> Image | None:
        """The model prediction, (Z, Y, X) uint8 class values, or None."""
        case = self.case(case_id)
        return None if case.prediction is None else self._read_label_file(case, self.path / case.prediction)

    def _read_label_file(self, case: CaseRecord, path: Path) -> Image:
        check_regular(path, follow_links=False, error=ProjectError)  # a FIFO would hang the reader
        label = io.read_label(path, num_classes=self.num_classes)
        if label.shape != case.shape:
            raise ProjectError(f"label map of shape {label.shape} does not match case {case.id!r} {case.shape}", path)
        return label

    def _image_geometry(self, case: CaseRecord) -> tuple[np.ndarray, dict]:
        if case.id not in self._geometry:
            self.read_image(case.id)
        return self._geometry[case.id]

    # --- writing labels and predictions ---------------------------------------------------------------------------
    def save_label(self, case_id: str, array: np.ndarray) -> None:
        """Store ``array`` ((Z, Y, X) integer, values 0..len(classes)) as the approved label; clears the journal."""
        case = self._writable_case(case_id)
        self._store_label(case, array, done=())

    def accept_prediction(self, case_id: str, slices: Iterable[int] | None = None) -> None:
        """Copy the prediction into the approved label on ``slices`` (all when None) and mark those slices done."""
        case = self._writable_case(case_id)
        prediction = self.read_prediction(case_id)
        if prediction is None:
            raise ProjectError(f"case {case_id!r} has no prediction to accept; run a model on it first", self.path)
        chosen = list(range(case.shape[0])) if slices is None else [self._slice_index(case, z) for z in slices]
        label = self.read_label(case_id).array
        label[chosen] = prediction.array[chosen]
        self._store_label(case, label, done=chosen)

    def _store_label(self, case: CaseRecord, array: np.ndarray, done: Iterable[int]) -> None:
        # order matters for crash safety: label file, then manifest, then journal (see module docstring of .journal)
        target = self._label_path(case.id)
        self._write_label_map(case, array, target)
        case.label = target.relative_to(self.path).as_posix()
        status = list(case.slice_status)
        for z in done:
            status[z] = SliceStatus.DONE.value
        case.slice_status = "".join(status)
        self.save()
        self._journal(case.id).clear()

    def save_prediction(self, case_id: str, array: np.ndarray) -> None:
        """Store a model prediction, (Z, Y, X) integer class values, apart from the approved label."""
        case = self._writable_case(case_id)
        target = self._prediction_path(case_id)
        self._write_label_map(case, array, target)
        case.prediction = target.relative_to(self.path).as_posix()
        self.save()

    def clear_prediction(self, case_id: str) -> None:
        """Delete the case's prediction (the approved label is untouched)."""
        case = self._writable_case(case_id)
        if case.prediction is None:
            return
        stored, case.prediction = self.path / case.prediction, None
        self.save()
        stored.unlink(missing_ok=True)

    def _write_label_map(self, case: CaseRecord, array: np.ndarray, target: Path) -> None:
        array = np.asarray(array)
        if array.shape != case.shape:
            raise ValueError(f"label map shape {array.shape} does not match case {case.id!r} shape {case.shape}")
        if array.dtype.kind not in "biu" or (array.size and not 0 <= array.min() <= array.max() < self.num_classes):
            raise ValueError(f"label map must hold integers 0..{self.num_classes - 1}")
        affine, meta = self._image_geometry(case)
        io.write_image(Image(array.astype(np.uint8), affine, None, {**meta, "label": True}), target, dtype=np.uint8)

    # --- slice status and strokes ---------------------------------------------------------------------------------
    def slice_status(self, case_id: str) -> str:
        """One :class:`SliceStatus` character per slice."""
        return self.case(case_id).slice_status

    def set_slice_status(self, case_id: str, z: int, status: SliceStatus | str) -> None:
        case = self._writable_case(case_id)
        z = self._slice_index(case, z)
        value = SliceStatus(status).value
        case.slice_status = case.slice_status[:z] + value + case.slice_status[z + 1 :]
        self.save()

    def append_stroke(self, case_id: str, z: int, indices: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """Record one stroke on slice ``z`` durably (fsynced) before returning; a not-started slice becomes in progress.

        indices: (N,) integer flat indices into the (Y, X) slice; old, new: (N,) uint8 values before and after.
        """
        case = self._writable_case(case_id)
        z = self._slice_index(case, z)
        indices, old, new = np.asarray(indices), np.asarray(old), np.asarray(new)
        plane = case.shape[1] * case.shape[2]
        if indices.ndim != 1 or old.shape != indices.shape or new.shape != indices.shape:
            shapes = f"{indices.shape}, {old.shape}, {new.shape}"
            raise ValueError(f"indices, old and new must be (N,) arrays of one length, got {shapes}")
        if indices.dtype.kind not in "iu" or (indices.size and not 0 <= indices.min() <= indices.max() < plane):
            raise ValueError(f"indices must be integers in 0..{plane - 1} (flat in a {case.shape[1:]} slice)")
        if new.size and not 0 <= new.min() <= new.max() < self.num_classes:
            raise ValueError(f"new values must be in 0..{self.num_classes - 1}")
        stroke = Stroke(z, indices.astype(np.int64), old.astype(np.uint8), new.astype(np.uint8))
        self._journal(case_id).append(stroke, base=lambda: self._label_digest(case))
        if case.slice_status[z] == SliceStatus.NOT_STARTED.value:
            case.slice_status = case.slice_status[:z] + SliceStatus.IN_PROGRESS.value + case.slice_status[z + 1 :]
            self.save()

    def pending_strokes(self, case_id: str) -> int:
        """How many journaled strokes of a case are not in its saved label yet (after a crash: what will be
        recovered by :meth:`read_label`)."""
        case = self.case(case_id)
        return len(self._journal(case_id).strokes(self._label_digest(case)))

    def _slice_index(self, case: CaseRecord, z) -> int:
        z = int(z)
        if not 0 <= z < case.shape[0]:
            raise ValueError(f"slice {z} is outside case {case.id!r}, which has {case.shape[0]} slices")
        return z

    def _label_digest(self, case: CaseRecord) -> bytes:
        """Identity of the label file the manifest names — what a journal's strokes were drawn on."""
        return NO_BASE if case.label is None else file_digest(self.path / case.label)

    # --- summaries and runs ---------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Case counts for the cases panel.

        real_labelled: real cases labelled by the rule of :mod:`.status`; real_unlabelled: the other real cases;
        synthetic; predicted: cases with a prediction; labelled_slices: the done slices of labelled cases.
        """
        real = [c for c in self.cases if c.role == "real"]
        done = [len(labelled_slices(self, c)) for c in real]
        return {
            "real_labelled": sum(1 for n in done if n),
            "real_unlabelled": sum(1 for n in done if not n),
            "synthetic": sum(1 for c in self.cases if c.role == "synthetic"),
            "predicted": sum(1 for c in self.cases if c.prediction is not None),
            "labelled_slices": sum(done),
        }

    @property
    def runs_dir(self) -> Path:
        return self.path / "runs"

    def new_run_dir(self, prefix: str = "run") -> Path:
        """Create and return an empty ``runs/<prefix>-YYYYmmdd-HHMMSS[-n]`` folder."""
        self._check_writable()
        if not CASE_ID.match(prefix):
            raise ConfigError(f"run name prefix {prefix!r} may only hold letters, digits, '.', '_' and '-'")
        base = f"{prefix}-{datetime.now():%Y%m%d-%H%M%S}"
        self.runs_dir.mkdir(exist_ok=True)
        for n in range(1, 1000):
            run = self.runs_dir / (base if n == 1 else f"{base}-{n}")
            try:
                run.mkdir()
                return run
            except FileExistsError:
                continue
        raise ProjectError(f"too many runs named {base}", self.runs_dir)

    # --- file names -----------------------------------------------------------------------------------------------
    def _label_path(self, case_id: str) -> Path:
        return self.path / "labels" / f"{case_id}.nii.gz"

    def _reference_path(self, case_id: str) -> Path:
        return self.path / "reference" / f"{case_id}.nii.gz"

    def _prediction_path(self, case_id: str) -> Path:
        return self.path / "predictions" / f"{case_id}.nii.gz"

    def _journal(self, case_id: str) -> Journal:
        if case_id not in self._journals:
            self._journals[case_id] = Journal(self.path / "labels" / f"{case_id}.journal")
        return self._journals[case_id]


def _check_import_options(role: str, label_as: str) -> None:
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if label_as not in LABEL_ROLES:
        raise ConfigError(f"label_as must be one of {', '.join(LABEL_ROLES)}, got {label_as!r}")


def _collect_images(folder: Path, seen: set | None = None) -> tuple[list[Path], list[Path]]:
    """Image files and DICOM series folders under ``folder`` (recursively, sorted), and the other files.

    A folder reached twice (a link back up the tree, or two links to one folder) is read once, so a link loop
    cannot turn one image into many cases.
    """
    seen = set() if seen is None else seen
    identity = _identity(folder)
    if identity in seen:
        return [], []
    seen.add(identity)
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if p.is_file()]
    dicom = {p for p in files if split_suffix(p)[1].lower() == ".dcm"}
    images = [folder] if dicom else []
    images += io.list_images(folder)
    listed = set(images) | dicom
    ignored = [p for p in files if p not in listed]
    for sub in (p for p in entries if p.is_dir()):
        more_images, more_ignored = _collect_images(sub, seen)
        images += more_images
        ignored += more_ignored
    return images, ignored


def _identity(path: Path) -> tuple[int, int]:
    """What makes two paths the same file or folder: device and inode (links and spellings resolved)."""
    info = path.stat()
    return info.st_dev, info.st_ino


def _source_key(path: str) -> tuple:
    """One key per file however its path is spelt (``a/../a``, a link, another mount of the same file): device and
    inode while the file exists, else the resolved path."""
    try:
        info = os.stat(path)
    except OSError:
        return ("path", str(Path(path).resolve()))
    return ("inode", info.st_dev, info.st_ino)


def _default_group(case_id: str) -> str:
    """The patient a case belongs to: ``patientNNN`` for ACDC-style ids, else the case itself."""
    match = _ACDC_PATIENT.match(case_id)
    return match.group(1) if match else case_id


def _load_json(path: Path):
    try:
        return load_json(path, follow_links=False, error=ProjectError)
    except FileNotFoundError:
        raise ProjectError("the manifest is missing; restore it from a backup", path) from None
    except ProjectError as exc:
        raise ProjectError(f"the manifest cannot be read: it {exc.reason}; restore it from a backup", path) from None


def _check_own_folders(root: Path) -> None:
    """Refuse writing to a project whose lock or folders are links or special files: every write, and the clean-up
    of leftovers, would land wherever they point."""
    for name in (LOCK_NAME, *_FOLDERS):
        try:
            mode = os.lstat(root / name).st_mode
        except FileNotFoundError:
            continue
        expected = stat.S_ISREG(mode) if name == LOCK_NAME else stat.S_ISDIR(mode)
        if not expected:
            what = "a symbolic link" if stat.S_ISLNK(mode) else "not a " + ("file" if name == LOCK_NAME else "folder")
            raise ProjectError(
                f"{name} in the project is {what}; writing through it could change files outside the project — "
                f"replace it with a real {'file' if name == LOCK_NAME else 'folder'}, or open the project read-only",
                root,
            )


def _unlink_file(path: Path) -> None:
    """Delete a file or a link (never what it points to); leave a folder or a missing name alone."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            path.unlink(missing_ok=True)
    except FileNotFoundError:
        pass


def _remove_atomic_leftovers(root: Path) -> None:
    for folder in (root, *(root / sub for sub in _FOLDERS[:4])):
        if folder.is_dir() and not folder.is_symlink():  # never clean up inside a folder a link points to
            for path in folder.iterdir():
                if _ATOMIC_TEMP.match(path.name) and stat.S_ISREG(os.lstat(path).st_mode):
                    path.unlink(missing_ok=True)
