"""DICOM-SEG export: a round trip through pydicom/highdicom keeps segments, frame positions and orientation."""

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sra_seg_core.cli import main
from sra_seg_core.dicom_seg import source_instances, write_dicom_seg
from sra_seg_core.errors import InputError
from sra_seg_core.io import read_image
from sra_seg_core.project import DEFAULT_CLASSES, Project

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ROWS, COLS, SLICES = 12, 16, 5
# an oblique short-axis-like plane: row direction and column direction, unit and orthogonal
ROW_DIR = np.array([0.8, 0.6, 0.0])
COL_DIR = np.array([0.0, 0.0, -1.0])
NORMAL = np.cross(ROW_DIR, COL_DIR)


def write_series(folder, shuffle=True):
    """A synthetic MR series: SLICES files of ROWS x COLS, 1.5 x 1.25 mm pixels, 7 mm apart, oblique; written in a
    scrambled file order so the reader's slice sorting is exercised."""
    folder.mkdir(parents=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    order = [3, 0, 4, 1, 2] if shuffle else range(SLICES)
    for n, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MR_STORAGE, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MR_STORAGE, meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Phantom^Heart", "P1", "19700101", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyID, ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "1", "20260101", "120000", "A1"
        ds.ReferringPhysicianName, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "", "MR", 7, n + 1
        ds.ImageOrientationPatient = [*ROW_DIR, *COL_DIR]
        ds.ImagePositionPatient = list(np.array([10.0, -20.0, 30.0]) + 7.0 * k * NORMAL)
        ds.PixelSpacing = [1.5, 1.25]  # between rows, between columns
        ds.SliceThickness = 7.0
        ds.Rows, ds.Columns = ROWS, COLS
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = (np.arange(ROWS * COLS, dtype=np.uint16).reshape(ROWS, COLS) + 100 * k).tobytes()
        ds.save_as(folder / f"slice{n}.dcm", enforce_file_format=True)
    return folder


def _labels(shape):
    labels = np.zeros(shape, np.uint8)
    labels[1:4, 2:6, 3:9] = 3
    labels[2, 7:10, 10:14] = 1
    return labels


def test_source_instances_come_in_the_readers_slice_order(tmp_path):
    folder = write_series(tmp_path / "series")
    image = read_image(folder)
    instances = source_instances(folder, image)
    positions = np.array([ds.ImagePositionPatient for ds in instances], dtype=float)
    np.testing.assert_allclose(positions @ NORMAL, np.sort(positions @ NORMAL))
    pixels = [pydicom.dcmread(ds.filename).pixel_array for ds in instances]
    np.testing.assert_array_equal(np.stack(pixels), image.array)


def test_dicom_seg_round_trip_keeps_segments_positions_and_orientation(tmp_path):
    import highdicom as hd

    folder = write_series(tmp_path / "series")
    image = read_image(folder)
    labels = _labels(image.shape)
    out = write_dicom_seg(labels, image, folder, tmp_path / "seg.dcm", DEFAULT_CLASSES, automatic=True)
    seg = hd.seg.segread(out)
    assert seg.Modality == "SEG" and seg.SeriesInstanceUID != image.meta.get("dicom_series")
    assert [(s.SegmentNumber, s.SegmentLabel) for s in seg.SegmentSequence] == [(1, "RV"), (2, "Myo"), (3, "LV")]
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    source = source_instances(folder, image)
    assert seg.StudyInstanceUID == source[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == source[0].FrameOfReferenceUID
    referenced = {r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {ds.SOPInstanceUID for ds in source}
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source[0].SeriesInstanceUID
    shared = seg.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose(shared.PlaneOrientationSequence[0].ImageOrientationPatient, [*ROW_DIR, *COL_DIR])
    np.testing.assert_allclose(shared.PixelMeasuresSequence[0].PixelSpacing, [1.5, 1.25])
    position_of = {ds.SOPInstanceUID: k for k, ds in enumerate(source)}
    for value in (1, 3):
        frames = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[ds.SOPInstanceUID for ds in source], segment_numbers=[value],
            ignore_spatial_locations=False, assert_missing_frames_are_empty=True)
        np.testing.assert_array_equal(frames[..., 0] > 0, labels == value)
    for frame in seg.PerFrameFunctionalGroupsSequence:  # every stored frame sits on its source slice
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        np.testing.assert_allclose(frame.PlanePositionSequence[0].ImagePositionPatient,
                                   source[position_of[uid]].ImagePositionPatient)


def test_a_series_moved_since_import_is_refused(tmp_path):
    folder = write_series(tmp_path / "series")
    image = read_image(folder)
    image.affine[:3, 3] += 5.0
    with pytest.raises(InputError, match="no longer match"):
        source_instances(folder, image)


def test_project_export_writes_dicom_seg_for_a_dicom_case(tmp_path, capsys):
    import highdicom as hd

    folder = write_series(tmp_path / "series")
    with Project.create(tmp_path / "proj") as project:
        case = project.import_image(folder)
        project.save_label(case.id, _labels(case.shape))
        project.save()
        case_id = case.id
    out = tmp_path / "out"
    assert main(["project", "export", str(tmp_path / "proj"), str(out), "--dicom-seg", "--no-nifti"]) == 0
    seg = hd.seg.segread(out / "dicom-seg" / f"{case_id}.dcm")
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["RV", "Myo", "LV"]
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"


def test_project_export_skips_dicom_seg_for_a_case_not_from_dicom(tmp_path, capsys):
    from sra_seg_core.image import Image
    from sra_seg_core.io import write_image

    write_image(Image.from_spacing(np.zeros((3, 8, 8), np.int16)), tmp_path / "scan.nii.gz")
    with Project.create(tmp_path / "proj") as project:
        case = project.import_image(tmp_path / "scan.nii.gz")
        project.save_label(case.id, _labels(case.shape)[:, :8, :8])
        project.save()
    assert main(["project", "export", str(tmp_path / "proj"), str(tmp_path / "out"), "--dicom-seg"]) == 0
    assert "not imported from a DICOM series" in capsys.readouterr().out
    assert not (tmp_path / "out" / "dicom-seg").exists()


def test_a_deleted_source_series_skips_only_the_dicom_seg(tmp_path, capsys):
    import shutil

    folder = write_series(tmp_path / "series")
    with Project.create(tmp_path / "proj") as project:
        case = project.import_image(folder, copy=True)  # stored as NIfTI; the series may then be deleted
        project.save_label(case.id, _labels(case.shape))
        project.save()
        case_id = case.id
    shutil.rmtree(folder)
    out = tmp_path / "out"
    assert main(["project", "export", str(tmp_path / "proj"), str(out), "--dicom-seg"]) == 0
    assert "no DICOM-SEG: its source" in capsys.readouterr().out
    assert (out / "nifti" / f"{case_id}.nii.gz").exists() and not (out / "dicom-seg").exists()
