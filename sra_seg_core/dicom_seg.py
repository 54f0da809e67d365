"""DICOM Segmentation objects (DICOM-SEG) of a label map, referencing the DICOM series it was drawn on.

PACS keep segmentations as DICOM-SEG: one multi-frame object whose frames are the masks of each segment on the source
series' slices, with the source's patient, study and frame of reference, and a reference to every source instance.
highdicom writes it (it checks the many rules of the standard that a hand-written encoder would get wrong).

The label map must be on the source series' voxel grid, which holds for a case imported from that series:
:mod:`sra_seg_core.io.dicom` orders slices by position along the slice normal, so array slice k is the k-th source
instance in that order. Before writing, each source instance's Image Position (Patient) is checked against the case's
geometry, so a series changed since import is refused rather than mislabelled.

Segments are BINARY, one per project class (segment number = class value; a class absent from the map is a segment
without frames). Classes named like
ACDC's (RV, Myo, LV) get their SNOMED CT codes; others are coded as "Tissue". Approved labels are MANUAL segments,
predictions AUTOMATIC ones with an algorithm identification naming SRA-Seg.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sra_seg_core import __version__
from sra_seg_core.atomic import atomic_write
from sra_seg_core.errors import InputError
from sra_seg_core.image import Image

_LPS = np.diag([-1.0, -1.0, 1.0])
POSITION_TOLERANCE_MM = 0.01


def _codes():
    from pydicom.sr.codedict import codes

    return {
        "rv": (codes.SCT.AnatomicalStructure, codes.SCT.RightVentricle),
        "lv": (codes.SCT.AnatomicalStructure, codes.SCT.LeftVentricle),
        "myo": (codes.SCT.Tissue, codes.SCT.LeftVentricleMyocardium),
    }


def source_instances(folder: str | os.PathLike, image: Image) -> list:
    """The pydicom datasets (headers only) of the series ``image`` was read from, in the image's slice order.

    folder: the series folder recorded at import. The series is ``image.meta["dicom_series"]`` when known, else the
    only series in the folder whose slice count and matrix match the image. Raises InputError when the folder is gone,
    holds no such series, or its slice positions no longer match the image's geometry.
    """
    import pydicom

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("is not there any more; DICOM-SEG needs the source DICOM series it references", folder)
    series: dict[str, list] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - any file pydicom cannot parse is not a slice of the series
            continue
        if "ImagePositionPatient" in ds and "SeriesInstanceUID" in ds:
            series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    z, rows, cols = image.shape
    wanted = image.meta.get("dicom_series")
    candidates = [uid for uid, items in series.items() if (wanted is None or uid == wanted) and len(items) == z
                  and int(items[0].Rows) == rows and int(items[0].Columns) == cols]
    if len(candidates) != 1:
        raise InputError(f"holds {len(candidates)} DICOM series of {cols} x {rows} x {z} slices matching the case "
                         "(need exactly one to reference)", folder)
    instances = series[candidates[0]]
    orientation = np.asarray(instances[0].ImageOrientationPatient, dtype=np.float64)
    normal = np.cross(orientation[:3], orientation[3:])
    instances.sort(key=lambda ds: float(np.dot(np.asarray(ds.ImagePositionPatient, dtype=np.float64), normal)))
    expected = (_LPS @ image.world([(0, 0, k) for k in range(z)]).T).T
    found = np.asarray([ds.ImagePositionPatient for ds in instances], dtype=np.float64)
    if not np.allclose(found, expected, atol=POSITION_TOLERANCE_MM):
        raise InputError("its slice positions no longer match the case's geometry (changed since import?)", folder)
    return instances


def segmentation(labels: np.ndarray, instances: list, classes, *, automatic: bool, series_description: str):
    """A highdicom ``Segmentation`` of a (Z, Y, X) uint8 label map on ``instances`` (the source slices in array
    order). ``classes``: the project's LabelClass list (values 1..N); one BINARY segment per class."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    present = {int(v) for v in np.unique(labels)} - {0}
    known = _codes()
    descriptions = []
    algorithm = None
    if automatic:
        algorithm = hd.AlgorithmIdentificationSequence(name="SRA-Seg", version=__version__,
                                                       family=codes.cid7162.ArtificialIntelligence)
    for cls in classes:  # every class, absent ones too: highdicom needs segment numbers 1..N without gaps
        category, kind = known.get(cls.name.strip().lower(), (codes.SCT.Tissue, codes.SCT.Tissue))
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=cls.value, segment_label=cls.name, segmented_property_category=category,
            segmented_property_type=kind, algorithm_identification=algorithm,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC if automatic
            else hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        ))
    if not present:
        raise InputError("the label map is empty: a DICOM-SEG needs at least one labelled voxel")
    unknown = present - {d.SegmentNumber for d in descriptions}
    if unknown:
        raise InputError(f"the label map holds values {sorted(unknown)} that are not classes of the project")
    return hd.seg.Segmentation(
        source_images=instances, pixel_array=np.ascontiguousarray(labels, dtype=np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=hd.UID(), series_number=int(getattr(instances[0], "SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SRA-Seg Studio",
        manufacturer_model_name="SRA-Seg", software_versions=__version__, device_serial_number="none",
        series_description=series_description,
    )


def write_dicom_seg(labels: np.ndarray, image: Image, source_folder, path, classes, *, automatic: bool) -> Path:
    """Write the DICOM-SEG of ``labels`` (on ``image``'s grid, read from the DICOM series in ``source_folder``) to
    ``path`` atomically. Returns the path."""
    instances = source_instances(source_folder, image)
    seg = segmentation(labels, instances, classes, automatic=automatic,
                       series_description="SRA-Seg prediction" if automatic else "SRA-Seg approved label")
    return atomic_write(path, lambda tmp: seg.save_as(tmp))
