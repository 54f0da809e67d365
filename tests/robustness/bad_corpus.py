"""A corpus of bad inputs, written on demand into a test's tmp_path (nothing is committed).

Each :class:`BadInput` writes one bad file (or folder) and says which role it plays — read as an image, or as the label
of a good image beside it — what the one error line must say, and which entry points must refuse it. ``place`` lays an
input out the way every entry point can take it: the bad file, a good partner where one is needed (a label for a bad
image, an image for a bad label), all inside one folder whose bytes the tests hash before and after.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

# The entry points a bad file can reach: CLI sub-commands and the app's import dialog.
ENTRY_POINTS = ("convert", "evaluate", "import", "train", "app")
SHAPE = (2, 6, 5)          # (Z, Y, X) of every good image and label
PROJECT_CLASSES = 3        # the tests' projects have classes 1..3 (num_classes 4)
HUGE_SIDE = 20_000         # 400 megapixels: over read_image's 100 megapixel limit


def write_nifti(path: Path, array: np.ndarray, spacing=(1.0, 1.0, 3.0)) -> Path:
    """``array`` (Z, Y, X) as NIfTI (nibabel's axis order is (X, Y, Z))."""
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([*spacing, 1.0])
    nib.Nifti1Image(np.ascontiguousarray(array.T), affine).to_filename(path)
    return path


def good_image(path: Path, shape=SHAPE, seed: int = 0) -> Path:
    return write_nifti(path, np.random.default_rng(seed).random(shape).astype(np.float32))


def good_label(path: Path, shape=SHAPE, seed: int = 0) -> Path:
    """A label with every class 0..3 present."""
    values = np.arange(np.prod(shape)) % (PROJECT_CLASSES + 1)
    return write_nifti(path, np.random.default_rng(seed).permutation(values).reshape(shape).astype(np.uint8))


def zero_png(path: Path, width: int, height: int) -> Path:
    """A valid 8-bit grey PNG of zeros, written in milliseconds at any size.

    Deflate output after a full flush does not depend on what came before, so one compressed band of zero scanlines is
    repeated; the Adler-32 of n zero bytes is ``(n mod 65521) << 16 | 1``. 20 000 x 20 000 takes 0.4 MB on disk.
    """
    rows = next(r for r in (100, 10, 1) if height % r == 0)
    band = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = band.compress(bytes((width + 1) * rows)) + band.flush(zlib.Z_FULL_FLUSH)
    n = (width + 1) * height  # every scanline: filter byte 0, then the pixels
    stream = b"\x78\xda" + segment * (height // rows) + b"\x03\x00" + struct.pack(">I", ((n % 65521) << 16) | 1)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b""))
    return path


def dicom_series(folder: Path, seed: int, slices: int = 2) -> None:
    """A small DICOM series written with SimpleITK alone, with its own Series Instance UID."""
    folder.mkdir(parents=True, exist_ok=True)
    volume = sitk.GetImageFromArray(np.random.default_rng(seed).integers(0, 1000, (slices, 6, 5)).astype(np.int16))
    uid = f"2.25.{uuid.uuid4().int}"
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(slices):
        plane = volume[:, :, k : k + 1]
        for tag, value in {"0020|000e": uid, "0008|0018": f"{uid}.{k + 1}", "0020|0013": str(k + 1),
                           "0020|0032": f"0\\0\\{k * 2.0}", "0020|0037": "1\\0\\0\\0\\1\\0"}.items():
            plane.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"s{seed}_{k:03d}.dcm"))
        writer.Execute(plane)


@dataclass(frozen=True)
class BadInput:
    """One bad input.

    id:         names the test case.
    name:       file (or folder) name written; the error line must contain it.
    role:       "image": read as an image; "label": read as the label of a good image ``case.nii.gz``.
    message:    a fragment of the error line every refusing entry point prints.
    write:      writes the bad file at the given path.
    refused_by: the entry points that must refuse it (the others accept it: see README.md for why).
    """

    id: str
    name: str
    role: str
    message: str
    write: Callable[[Path], object]
    refused_by: tuple[str, ...] = ENTRY_POINTS

    def __str__(self) -> str:
        return self.id


def _truncated_nifti(path: Path) -> None:
    data = gzip.compress(good_image(path.with_name("whole.nii"), shape=(8, 32, 32)).read_bytes())
    path.with_name("whole.nii").unlink()
    path.write_bytes(data[: len(data) // 2])


def _patched_nifti(field_format: str, offset: int, value) -> Callable[[Path], None]:
    """A valid uncompressed NIfTI-1 file with one header field overwritten, as a damaged copy might have it."""
    def write(path: Path) -> None:
        data = bytearray(good_image(path).read_bytes())
        struct.pack_into(field_format, data, offset, value)
        path.write_bytes(bytes(data))
    return write


def _squashed_nifti(path: Path) -> None:
    """A NIfTI whose sform (the one that counts) maps every column to the same x: a voxel size of 0 mm along i."""
    header = nib.Nifti1Header()
    header.set_data_shape((5, 6, 2))
    header.set_data_dtype(np.float32)
    header["sform_code"] = 1
    header["srow_x"], header["srow_y"], header["srow_z"] = (0, 0, 0, 0), (0, 1, 0, 0), (0, 0, 3, 0)
    nib.Nifti1Image(np.ones((5, 6, 2), np.float32), None, header).to_filename(path)


def _label_values(values) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        array = np.resize(np.asarray(values), SHAPE)
        return write_nifti(path, array.astype(np.asarray(values).dtype))
    return write


def _mixed_dicom(folder: Path) -> None:
    dicom_series(folder, seed=1)
    dicom_series(folder, seed=2)


CORPUS = (
    BadInput("empty-file", "empty.nii.gz", "image", "is empty (0 bytes)", lambda p: p.write_bytes(b"")),
    BadInput("truncated-nifti", "cut.nii.gz", "image", "cannot be read as NIfTI", _truncated_nifti),
    BadInput("text-as-nifti", "notes.nii.gz", "image", "cannot be read as NIfTI",
             lambda p: p.write_text("patient notes, not an image\n")),
    BadInput("text-as-png", "notes.png", "image", "cannot be read as PNG",
             lambda p: p.write_text("patient notes, not an image\n")),
    BadInput("zero-sized-dimension", "flat.nii.gz", "image", "has an empty dimension",
             lambda p: nib.Nifti1Image(np.zeros((5, 6, 0), np.float32), np.eye(4)).to_filename(p)),
    # damaged headers, as found by fuzzing (test_properties.py); each once escaped as a traceback or a broken project
    BadInput("negative-dimension", "negative.nii", "image", "has an empty dimension (shape 5 x -5 x 2)",
             _patched_nifti("<h", 44, -5)),  # dim[2] = -5 rows
    BadInput("huge-data-offset", "offset.nii", "image", "cannot be read as NIfTI",
             _patched_nifti("<f", 108, 1e30)),  # vox_offset
    BadInput("zero-voxel-size", "squashed.nii.gz", "image", "damaged voxel geometry (a voxel size of 0 mm along i)",
             _squashed_nifti),
    BadInput("all-nan", "nan.nii.gz", "image", "NaN", lambda p: write_nifti(p, np.full(SHAPE, np.nan, np.float32))),
    BadInput("four-d", "cine.nii.gz", "image", "is 4-D with 3 frames",
             lambda p: nib.Nifti1Image(np.zeros((5, 6, 2, 3), np.float32), np.eye(4)).to_filename(p)),
    BadInput("mixed-dicom-series", "scan", "image", "holds 2 DICOM series", _mixed_dicom,
             # evaluate reads a folder as a folder of label files, never as one DICOM series
             refused_by=("convert", "import", "train", "app")),
    BadInput("huge-png", "huge.png", "image", "over the limit of 100,000,000",
             lambda p: zero_png(p, HUGE_SIDE, HUGE_SIDE)),
    BadInput("non-ascii-path", "données_Ünï/脳スキャン.nii.gz", "image", "cannot be read as NIfTI",
             lambda p: (p.parent.mkdir(parents=True, exist_ok=True), p.write_bytes(b"\x00garbage" * 40))),
    BadInput("negative-label", "case_gt.nii.gz", "label", "outside the allowed range",
             _label_values(np.array([0, 1, -1], np.int16))),
    BadInput("label-above-the-classes", "case_gt.nii.gz", "label", "outside the allowed range 0 to 3",
             _label_values(np.array([0, 1, 9], np.uint8)),
             # a label file alone does not say how many classes there are; a project does
             refused_by=("import", "app")),
    BadInput("fractional-label", "case_gt.nii.gz", "label", "fractional values",
             _label_values(np.array([0, 1, 0.5], np.float32))),
    BadInput("label-shape-differs", "case_gt.nii.gz", "label", "does not match the shape",
             lambda p: good_label(p, shape=(2, 6, 6)),
             refused_by=("evaluate", "import", "train", "app")),  # convert reads one file: nothing to differ from
)


@dataclass
class Placed:
    """Where an input was laid out: ``bad`` the bad file; ``image`` what to import or train on; ``label`` its label."""

    folder: Path
    bad: Path
    image: Path
    label: Path


def place(item: BadInput, folder: Path) -> Placed:
    """Write ``item`` into ``folder`` with its good partner: a bad image gets a good label ``<stem>_gt.nii.gz`` beside
    it (so training reads it as a labelled case); a bad label is ``case_gt.nii.gz`` beside a good ``case.nii.gz``."""
    folder.mkdir(parents=True, exist_ok=True)
    bad = folder / item.name
    bad.parent.mkdir(parents=True, exist_ok=True)
    item.write(bad)
    if item.role == "label":
        return Placed(folder, bad, good_image(folder / "case.nii.gz"), bad)
    stem = bad.name.split(".")[0]
    return Placed(folder, bad, bad, good_label(bad.parent / f"{stem}_gt.nii.gz"))


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative POSIX path) -> SHA-256 of its bytes: equal digests, untouched input."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def items_for(entry_point: str) -> list[BadInput]:
    return [item for item in CORPUS if entry_point in item.refused_by]
