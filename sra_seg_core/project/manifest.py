"""``project.json``: what a project holds, as plain JSON, checked field by field when read.

A project is shared by copying its folder, so its manifest is untrusted input. Reading it runs no code (JSON only) and
every path in it must stay inside the project folder — a relative path without ``..`` that resolves (symbolic links
included) under the folder. The one exception is a case's ``image`` when ``copied`` is false: the user imported that
file where it lies. Paths inside the project are stored POSIX-style so a project moves between operating systems.

A path also has to be the case's own file of its kind (:data:`KIND_FOLDERS`): ``<folder>/<case id><image suffix>``,
directly in that kind's folder. So no path can name ``project.json``, a journal, a folder, another kind's file or
another case's file, and removing a case can only ever delete that case's files (ids are unique, so the paths are).
Known project settings must have their type (:data:`SETTING_TYPES`); one that does not is dropped with a warning in
``Manifest.problems`` (the setting falls back to its default), so a hand-edited value cannot break a command later.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath, PureWindowsPath

from sra_seg_core.atomic import split_suffix
from sra_seg_core.errors import ProjectError
from sra_seg_core.io.formats import SUPPORTED_SUFFIXES
from sra_seg_core.project.classes import LabelClass, class_problem

MANIFEST_NAME = "project.json"
FORMAT = "sra-seg-project"
VERSION = 1
ROLES = ("real", "synthetic")
CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# which folder holds each kind of file a case owns
KIND_FOLDERS = {"image": "images", "label": "labels", "reference": "reference", "prediction": "predictions"}
# project settings the engine and the app read, and the JSON type each must have
SETTING_TYPES = {"review": dict, "demo": dict, "export": dict, "dinov2_weights": str,
                 "label_view": dict}  # hidden / locked classes (project/class_table.py)


class SliceStatus(str, Enum):
    """Review state of one slice; a case stores one character per slice in ``slice_status``."""

    NOT_STARTED = "."
    IN_PROGRESS = "p"
    DONE = "d"
    FLAGGED = "f"


_STATUS_CHARS = frozenset(s.value for s in SliceStatus)


@dataclass
class CaseRecord:
    """One imported image and the files that belong to it.

    id:           unique (case-insensitively) and safe as a file name; names files under images/, labels/, ...
    role:         "real" or "synthetic".
    image:        path relative to the project (POSIX) when ``copied``, else the absolute path imported.
    source:       the absolute path the image was imported from (provenance; never opened by the store).
    shape:        (Z, Y, X) of the image; spacing: voxel size in mm along (i, j, k).
    frame:        the frame taken from a 4-D source, else None.
    group:        patient id used to keep a patient's cases in one split.
    label, reference, prediction: project-relative paths, or None.
    slice_status: one :class:`SliceStatus` character per slice.
    added:        ISO 8601 time of import.
    """

    id: str
    role: str
    image: str
    copied: bool
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    frame: int | None = None
    group: str = ""
    label: str | None = None
    reference: str | None = None
    prediction: str | None = None
    slice_status: str = ""
    added: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        self.shape = tuple(self.shape)
        self.spacing = tuple(self.spacing)
        self.group = self.group or self.id
        self.slice_status = self.slice_status or SliceStatus.NOT_STARTED.value * self.shape[0]


@dataclass
class Manifest:
    name: str
    created: str
    modified: str
    classes: list[LabelClass]
    cases: list[CaseRecord] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what was wrong but could be mended on reading

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "created": self.created,
            "modified": self.modified,
            "classes": [asdict(c) for c in self.classes],
            "cases": [{**asdict(c), "shape": list(c.shape), "spacing": list(c.spacing)} for c in self.cases],
            "settings": self.settings,
        }


def is_inside(root: Path, relative: str) -> bool:
    """Whether ``relative`` names a place inside ``root``: not absolute on any OS, no ``..``, no link leading out."""
    if not relative or PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).is_absolute():
        return False
    if PureWindowsPath(relative).drive or ".." in PureWindowsPath(relative).parts:
        return False
    return (root / relative).resolve().is_relative_to(root.resolve())


class _Reader:
    """Typed access to a JSON object that reports a bad field by name, against the manifest's path."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, problem: str):
        raise ProjectError(f"field {where}: {problem}; the manifest is damaged or from another program", self.path)

    def get(self, obj: dict, key: str, kind, where: str, optional: bool = False):
        value = obj.get(key)
        if value is None and optional:
            return None
        # bool is an int in Python; a JSON true is never a valid count or index here
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.fail(f"{where}.{key}", f"expected {kind.__name__}{' or null' if optional else ''}, got {value!r}")
        return value

    def inside(self, root: Path, value: str | None, where: str) -> str | None:
        if value is not None and not is_inside(root, value):
            self.fail(where, f"path {value!r} points outside the project folder")
        return value

    def owned(self, root: Path, value: str | None, where: str, kind: str, case_id: str) -> str | None:
        """A path inside the project that is case ``case_id``'s own ``kind`` file (see the module docstring)."""
        if value is None:
            return None
        self.inside(root, value, where)
        folder, _, name = value.partition("/")
        stem, suffix = split_suffix(name)
        if folder != KIND_FOLDERS[kind] or "/" in name or stem != case_id or suffix.lower() not in SUPPORTED_SUFFIXES:
            self.fail(where, f"path {value!r} is not case {case_id!r}'s own {kind} file "
                             f"(expected {KIND_FOLDERS[kind]}/{case_id}.<image suffix>)")
        return value


def _parse_case(r: _Reader, root: Path, obj, where: str) -> CaseRecord:
    if not isinstance(obj, dict):
        r.fail(where, "expected an object")
    case_id = r.get(obj, "id", str, where)
    if not CASE_ID.match(case_id):
        r.fail(f"{where}.id", f"{case_id!r} is not a valid case id (letters, digits, '.', '_', '-')")
    role = r.get(obj, "role", str, where)
    if role not in ROLES:
        r.fail(f"{where}.role", f"{role!r} is not one of {', '.join(ROLES)}")
    copied = r.get(obj, "copied", bool, where)
    image = r.get(obj, "image", str, where)
    if copied:
        r.owned(root, image, f"{where}.image", "image", case_id)
    shape = r.get(obj, "shape", list, where)
    if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        r.fail(f"{where}.shape", f"expected three positive integers (Z, Y, X), got {shape!r}")
    spacing = r.get(obj, "spacing", list, where)
    if len(spacing) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in spacing):
        r.fail(f"{where}.spacing", f"expected three positive numbers (mm), got {spacing!r}")
    status = r.get(obj, "slice_status", str, where)
    if len(status) != shape[0] or not set(status) <= _STATUS_CHARS:
        r.fail(f"{where}.slice_status", f"expected {shape[0]} characters from '.pdf', got {status!r}")
    return CaseRecord(
        id=case_id,
        role=role,
        image=image,
        copied=copied,
        shape=tuple(shape),
        spacing=tuple(float(v) for v in spacing),
        frame=r.get(obj, "frame", int, where, optional=True),
        group=r.get(obj, "group", str, where),
        label=r.owned(root, r.get(obj, "label", str, where, optional=True), f"{where}.label", "label", case_id),
        reference=r.owned(root, r.get(obj, "reference", str, where, optional=True), f"{where}.reference",
                          "reference", case_id),
        prediction=r.owned(root, r.get(obj, "prediction", str, where, optional=True), f"{where}.prediction",
                           "prediction", case_id),
        slice_status=status,
        added=r.get(obj, "added", str, where),
        source=r.get(obj, "source", str, where, optional=True) or "",
    )


def parse_manifest(data, path: Path) -> Manifest:
    """Check a decoded ``project.json`` and build the :class:`Manifest`; ProjectError names the file and field."""
    r, root = _Reader(path), path.parent
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProjectError(f"not an SRA-Seg project manifest (no \"format\": \"{FORMAT}\")", path)
    version = data.get("version")
    if version != VERSION:
        raise ProjectError(
            f"project format version {version!r}; this SRA-Seg reads version {VERSION} — "
            "open it with the version that wrote it",
            path,
        )
    classes = []
    for i, obj in enumerate(r.get(data, "classes", list, "manifest")):
        where = f"classes[{i}]"
        if not isinstance(obj, dict):
            r.fail(where, "expected an object")
        classes.append(
            LabelClass(r.get(obj, "value", int, where), r.get(obj, "name", str, where), r.get(obj, "color", str, where))
        )
    problem = class_problem(classes)
    if problem:
        r.fail("classes", problem)
    cases = [_parse_case(r, root, obj, f"cases[{i}]") for i, obj in enumerate(r.get(data, "cases", list, "manifest"))]
    seen: dict[str, str] = {}
    for case in cases:
        if case.id.lower() in seen:
            r.fail("cases", f"case id {case.id!r} appears twice (ids are compared ignoring case)")
        seen[case.id.lower()] = case.id
    settings, problems = _typed_settings(r.get(data, "settings", dict, "manifest"))
    return Manifest(
        name=r.get(data, "name", str, "manifest"),
        created=r.get(data, "created", str, "manifest"),
        modified=r.get(data, "modified", str, "manifest"),
        classes=classes,
        cases=cases,
        settings=settings,
        problems=problems,
    )


def _typed_settings(settings: dict) -> tuple[dict, list[str]]:
    """The settings without known keys of the wrong type, and a warning for each one dropped."""
    kept, problems = {}, []
    for key, value in settings.items():
        kind = SETTING_TYPES.get(key)
        if kind is not None and not isinstance(value, kind):
            problems.append(f"setting {key!r} should be a {'text' if kind is str else 'JSON object'}, not "
                            f"{type(value).__name__} {value!r:.40}; it was reset to its default")
        else:
            kept[key] = value
    return kept, problems
