"""Finding cases (ACDC, FIVES, generic and synthetic folders), splitting them by group, choosing the labelled subset,
and serving normalised, resized slices and volumes."""

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from sra_seg_core.datasets import (
    CaseRef,
    discover,
    discover_synthetic,
    load_slices,
    load_volume,
    normalise_minmax,
    published_acdc_split,
    resize_slices,
    select_labelled,
    split_cases,
)
from sra_seg_core.errors import ConfigError, InputError

# A non-trivial geometry: anisotropic, rotated, shifted, so a transposed or re-gridded read would show.
AFFINE = np.array([[0.0, -1.5, 0.0, 40.0], [1.25, 0.0, 0.0, -12.0], [0.0, 0.0, 8.0, 5.5], [0.0, 0.0, 0.0, 1.0]])


# --- fixture writers ----------------------------------------------------------------------------------------------
def write_nifti(path, array_zyx, affine=AFFINE):
    """Write a (Z, Y, X) array the way scanners store it: nibabel [i, j, k]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(np.asarray(array_zyx).T), affine), str(path))
    return path


def write_series(path, frames_zyx, affine=AFFINE):
    """Write a 4-D NIfTI whose time frame t is frames_zyx[t] (Z, Y, X)."""
    data = np.stack([np.asarray(f, dtype=np.float32).T for f in frames_zyx], axis=-1)  # [i, j, k, t]
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def write_png(path, array):
    """(H, W) grey or (H, W, 3) colour uint8 PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array, dtype=np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=array.ndim == 3), str(path))
    return path


def volume(seed, shape=(2, 8, 8), scale=100.0):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * scale).astype(np.float32)


def label_map(seed, shape=(2, 8, 8), classes=4):
    return np.random.default_rng(seed).integers(0, classes, shape).astype(np.uint8)


def write_acdc_patient(root, number, *, frames=(1, 12), info=True, extra_frames=(), shape=(2, 8, 8)):
    name = f"patient{number:03d}"
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for frame in (*frames, *extra_frames):
        write_nifti(folder / f"{name}_frame{frame:02d}.nii.gz", volume(number * 100 + frame, shape))
        write_nifti(folder / f"{name}_frame{frame:02d}_gt.nii.gz", label_map(number * 100 + frame, shape))
    if info:
        (folder / "Info.cfg").write_text(f"ED: {frames[0]}\nES: {frames[-1]}\nGroup: NOR\nHeight: 180.0\n"
                                         "NbFrame: 30\nWeight: 80.0\n")
    return folder


def write_acdc(root, numbers, **kwargs):
    for number in numbers:
        write_acdc_patient(root, number, **kwargs)
    return root


def write_fives(root, train=("1_A", "2_D", "3_G"), test=("101_N",)):
    """Colour fundus stand-ins (12 x 16 RGB) with 0/255 vessel masks."""
    mask = (np.arange(16 * 12).reshape(12, 16) % 3 == 0) * 255
    for split, names in (("train", train), ("test", test)):
        for i, name in enumerate(names):
            write_png(root / split / "Original" / f"{name}.png", np.random.default_rng(i).integers(0, 256, (12, 16, 3)))
            write_png(root / split / "Ground truth" / f"{name}.png", mask)
    return root


def write_generic(root):
    write_nifti(root / "a.nii.gz", volume(1))
    write_nifti(root / "a_gt.nii.gz", label_map(1, classes=3))
    write_nifti(root / "b.nii.gz", volume(2))
    write_nifti(root / "b_seg.nii.gz", label_map(2, classes=2))
    write_nifti(root / "c.nii.gz", volume(3))  # unlabelled
    return root


def cases_of(groups, labelled=True):
    return [CaseRef(f"{g}_{k}", f"/d/{g}_{k}.nii.gz", f"/d/{g}_{k}_gt.nii.gz" if labelled else None, g)
            for g in groups for k in (1, 2)]


def all_groups(split):
    return {case.group for cases in split.values() for case in cases}


# --- discovery: ACDC ------------------------------------------------------------------------------------------
def test_acdc_is_detected_with_one_case_per_frame_named_in_info_cfg(tmp_path):
    write_acdc_patient(tmp_path, 1, frames=(1, 12), extra_frames=(5,))  # frame 5 is labelled but not ED / ES
    write_acdc_patient(tmp_path, 2, frames=(1, 9))
    dataset = discover(tmp_path)
    assert dataset.layout == "acdc"
    assert [c.case_id for c in dataset.cases] == ["patient001_frame01", "patient001_frame12", "patient002_frame01",
                                                  "patient002_frame09"]
    assert [c.group for c in dataset.cases] == ["patient001", "patient001", "patient002", "patient002"]
    assert dataset.cases[1].label.name == "patient001_frame12_gt.nii.gz"
    assert dataset.num_classes == 4 and dataset.class_names == ["background", "RV", "Myo", "LV"]


def test_acdc_download_layout_is_found_under_training(tmp_path):
    write_acdc(tmp_path / "training", [3, 4])
    assert [c.group for c in discover(tmp_path, "acdc").cases] == ["patient003"] * 2 + ["patient004"] * 2


def test_acdc_without_info_cfg_warns_and_uses_the_labelled_frames(tmp_path):
    write_acdc_patient(tmp_path, 1, frames=(1, 4), extra_frames=(7,), info=False)
    with pytest.warns(UserWarning, match="Info.cfg"):
        dataset = discover(tmp_path)
    assert [c.case_id for c in dataset.cases] == ["patient001_frame01", "patient001_frame04", "patient001_frame07"]


def test_acdc_info_cfg_without_frames_is_an_input_error_naming_it(tmp_path):
    folder = write_acdc_patient(tmp_path, 1)
    (folder / "Info.cfg").write_text("Group: NOR\n")
    with pytest.raises(InputError, match="ED") as err:
        discover(tmp_path, "acdc")
    assert err.value.path.endswith("Info.cfg")


def test_acdc_frame_without_its_own_file_is_read_from_the_4d_series(tmp_path):
    folder = write_acdc_patient(tmp_path, 1, frames=(1, 3))
    (folder / "patient001_frame03.nii.gz").unlink()
    write_series(folder / "patient001_4d.nii.gz", [volume(t) for t in range(4)])
    case = discover(tmp_path).cases[1]
    assert case.image.name == "patient001_4d.nii.gz" and case.frame == 2  # frame 3 counts from 1, the file from 0


def test_acdc_annotated_frame_with_no_image_is_an_input_error(tmp_path):
    folder = write_acdc_patient(tmp_path, 1, frames=(1, 3))
    (folder / "patient001_frame03.nii.gz").unlink()
    with pytest.raises(InputError, match="frame 3"):
        discover(tmp_path, "acdc")


def test_acdc_layout_asked_for_on_another_folder_explains_what_it_expected(tmp_path):
    write_generic(tmp_path)
    with pytest.raises(InputError, match="patientNNN"):
        discover(tmp_path, "acdc")


def test_acdc_with_another_class_count_is_a_config_error(tmp_path):
    write_acdc(tmp_path, [1])
    with pytest.raises(ConfigError, match="4 classes"):
        discover(tmp_path, num_classes=3)


# --- discovery: FIVES -----------------------------------------------------------------------------------------
def test_fives_is_detected_with_masks_paired_and_its_own_split(tmp_path):
    dataset = discover(write_fives(tmp_path))
    assert dataset.layout == "fives"
    assert [c.case_id for c in dataset.predefined["train"]] == ["1_A", "2_D", "3_G"]
    assert [c.case_id for c in dataset.predefined["test"]] == ["101_N"]
    assert all(c.label is not None and c.label.parent.name == "Ground truth" for c in dataset.cases)
    assert (dataset.num_classes, dataset.class_names, dataset.binarize_labels) == (2, ["background", "vessel"], True)


def test_fives_names_repeated_in_train_and_test_get_the_split_as_prefix(tmp_path):
    dataset = discover(write_fives(tmp_path, train=("1_A", "2_A"), test=("1_A",)))
    assert [c.case_id for c in dataset.cases] == ["train_1_A", "2_A", "test_1_A"]


# --- discovery: generic and synthetic folders -------------------------------------------------------------------
def test_folder_pairs_gt_label_and_seg_files_and_keeps_unlabelled_images(tmp_path):
    write_generic(tmp_path)
    write_nifti(tmp_path / "d.nii.gz", volume(4))
    write_nifti(tmp_path / "d_label.nii.gz", label_map(4, classes=2))
    dataset = discover(tmp_path)
    assert dataset.layout == "folder"
    assert {c.case_id: c.label and c.label.name for c in dataset.cases} == {
        "a": "a_gt.nii.gz", "b": "b_seg.nii.gz", "c": None, "d": "d_label.nii.gz"}
    assert all(c.group == c.case_id for c in dataset.cases)


def test_folder_num_classes_is_the_largest_label_value_plus_one(tmp_path):
    dataset = discover(write_generic(tmp_path))
    assert dataset.num_classes == 3 and dataset.class_names == ["background", "class 1", "class 2"]
    assert not dataset.binarize_labels


def test_folder_of_0_255_masks_is_two_classes_binarised(tmp_path):
    write_png(tmp_path / "x.png", np.full((8, 8), 90))
    write_png(tmp_path / "x_gt.png", np.eye(8) * 255)
    dataset = discover(tmp_path)
    assert (dataset.num_classes, dataset.binarize_labels) == (2, True)


def test_folder_given_num_classes_is_kept(tmp_path):
    assert discover(write_generic(tmp_path), num_classes=5).num_classes == 5


def test_folder_of_0_255_masks_with_given_classes_is_still_binarised(tmp_path):
    write_png(tmp_path / "x.png", np.full((8, 8), 90))
    write_png(tmp_path / "x_gt.png", np.eye(8) * 255)
    dataset = discover(tmp_path, num_classes=2)
    assert (dataset.num_classes, dataset.binarize_labels) == (2, True)


def test_folder_images_and_labels_subfolders_pair_by_name(tmp_path):
    write_nifti(tmp_path / "images" / "p1.nii.gz", volume(1))
    write_nifti(tmp_path / "images" / "p2.nii.gz", volume(2))
    write_nifti(tmp_path / "labels" / "p1.nii.gz", label_map(1))
    dataset = discover(tmp_path)
    assert [(c.case_id, c.label and c.label.parent.name) for c in dataset.cases] == [("p1", "labels"), ("p2", None)]


def test_folder_nnunet_layout_drops_the_channel_suffix(tmp_path):
    write_nifti(tmp_path / "imagesTr" / "heart_001_0000.nii.gz", volume(1))
    write_nifti(tmp_path / "imagesTr" / "heart_001_0001.nii.gz", volume(2))  # a second modality: not used
    write_nifti(tmp_path / "labelsTr" / "heart_001.nii.gz", label_map(1))
    write_nifti(tmp_path / "imagesTs" / "heart_009_0000.nii.gz", volume(3))
    with pytest.warns(UserWarning, match="channel"):
        dataset = discover(tmp_path)
    assert [(c.case_id, c.label and c.label.name) for c in dataset.cases] == [("heart_001", "heart_001.nii.gz"),
                                                                              ("heart_009", None)]


def test_plain_images_folder_keeps_numbered_names(tmp_path):
    for i in range(2):  # img_0000, img_0001 are two pictures here, not two channels of one case
        write_png(tmp_path / "images" / f"img_{i:04d}.png", np.full((4, 4), i))
        write_png(tmp_path / "labels" / f"img_{i:04d}.png", np.eye(4))
    dataset = discover(tmp_path)
    assert [(c.case_id, c.label.name) for c in dataset.cases] == [("img_0000", "img_0000.png"),
                                                                  ("img_0001", "img_0001.png")]


def test_folder_is_searched_recursively_and_repeated_names_are_qualified(tmp_path):
    write_nifti(tmp_path / "site1" / "scan.nii.gz", volume(1))
    write_nifti(tmp_path / "site1" / "scan_gt.nii.gz", label_map(1))
    write_nifti(tmp_path / "site2" / "scan.nii.gz", volume(2))
    write_nifti(tmp_path / "site2" / "other.nii.gz", volume(3))
    dataset = discover(tmp_path)
    assert sorted(c.case_id for c in dataset.cases) == ["other", "site1_scan", "site2_scan"]


def test_folder_without_images_is_an_input_error_naming_it(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="no readable images") as err:
        discover(tmp_path)
    assert err.value.path == str(tmp_path)


def test_missing_data_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        discover(tmp_path / "nowhere")


def test_unknown_layout_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="layout"):
        discover(tmp_path, "kitti")


def test_synthetic_folder_is_searched_recursively_and_keeps_paired_labels(tmp_path):
    write_png(tmp_path / "gan" / "s1.png", np.full((8, 8), 10))
    write_png(tmp_path / "gan" / "s1_gt.png", np.eye(8))
    write_png(tmp_path / "diffusion" / "s2.png", np.full((8, 8), 20))
    dataset = discover_synthetic(tmp_path)
    assert dataset.layout == "synthetic"
    assert {c.case_id: c.label and c.label.name for c in dataset.cases} == {"s1": "s1_gt.png", "s2": None}


def test_synthetic_folder_that_does_not_exist_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="synthetic"):
        discover_synthetic(tmp_path / "missing")


# --- splits ---------------------------------------------------------------------------------------------------
def test_acdc_with_the_published_patients_uses_the_published_split_in_its_order(tmp_path):
    write_acdc(tmp_path, range(1, 101), shape=(1, 2, 2))
    splits = split_cases(discover(tmp_path), seed=7)
    published = published_acdc_split()
    for name in ("train", "val", "test"):
        assert list(dict.fromkeys(c.group for c in splits[name])) == published[name]
    assert [c.case_id for c in splits["train"][:2]] == ["patient099_frame01", "patient099_frame12"]


def test_acdc_subset_gets_a_seeded_split_by_patient(tmp_path):
    write_acdc(tmp_path, range(1, 11), shape=(1, 2, 2))
    splits = split_cases(discover(tmp_path))
    assert [len({c.group for c in splits[s]}) for s in ("train", "val", "test")] == [7, 1, 2]


def test_seeded_split_never_puts_a_group_in_two_splits():
    splits = split_cases(_dataset(cases_of([f"g{i}" for i in range(20)])), seed=3)
    groups = [{c.group for c in splits[s]} for s in ("train", "val", "test")]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert set().union(*groups) == {f"g{i}" for i in range(20)}
    assert [len(g) for g in groups] == [14, 2, 4]


def test_seeded_split_is_reproducible_and_depends_on_the_seed():
    dataset = _dataset(cases_of([f"g{i}" for i in range(30)]))
    first, again, other = (split_cases(dataset, seed=s) for s in (11, 11, 12))
    assert first == again
    assert first["train"] != other["train"]


def test_seeded_split_does_not_depend_on_the_order_cases_were_found_in():
    cases = cases_of([f"g{i}" for i in range(12)])
    reordered = sorted(cases, key=lambda c: (c.group[::-1], c.case_id))
    assert {s: {c.case_id for c in v} for s, v in split_cases(_dataset(cases)).items()} == {
        s: {c.case_id for c in v} for s, v in split_cases(_dataset(reordered)).items()}


def test_three_groups_give_one_each_to_train_val_and_test():
    splits = split_cases(_dataset(cases_of(["a", "b", "c"])))
    assert [len({c.group for c in splits[s]}) for s in ("train", "val", "test")] == [1, 1, 1]


def test_unlabelled_groups_stay_in_train():
    cases = cases_of([f"l{i}" for i in range(10)]) + cases_of([f"u{i}" for i in range(30)], labelled=False)
    splits = split_cases(_dataset(cases))
    assert all(c.label is not None for c in splits["val"] + splits["test"])
    assert {c.group for c in splits["train"]} >= {f"u{i}" for i in range(30)}
    assert (len({c.group for c in splits["val"]}), len({c.group for c in splits["test"]})) == (1, 2)


def test_fives_keeps_its_test_folder_and_draws_validation_from_train(tmp_path):
    dataset = discover(write_fives(tmp_path, train=[f"{i}_A" for i in range(1, 17)], test=("90_N", "91_N")))
    splits = split_cases(dataset, seed=5)
    assert [c.case_id for c in splits["test"]] == ["90_N", "91_N"]
    assert len(splits["val"]) == 2 and len(splits["train"]) == 14  # 0.1 / (0.7 + 0.1) of 16
    assert {c.case_id for c in splits["train"] + splits["val"]} == {f"{i}_A" for i in range(1, 17)}
    assert split_cases(dataset, seed=5) == splits


def test_split_file_decides_the_split(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["c", "a"], "val": ["b"], "test": ["d"]}))
    splits = split_cases(_dataset(cases_of(["a", "b", "c", "d"])), split_file=path)
    assert [c.group for c in splits["train"]] == ["c", "c", "a", "a"]
    assert [c.group for c in splits["val"]] == ["b", "b"]


def test_split_file_missing_a_group_is_an_input_error_naming_it(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["a"], "val": ["b"], "test": []}))
    with pytest.raises(InputError, match="'?c'?.*add each"):
        split_cases(_dataset(cases_of(["a", "b", "c"])), split_file=path)


def test_split_file_with_a_group_in_two_splits_is_an_input_error(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["a", "b"], "val": ["b"], "test": []}))
    with pytest.raises(InputError, match="both train and val"):
        split_cases(_dataset(cases_of(["a", "b"])), split_file=path)


def test_split_file_that_is_not_json_is_an_input_error(tmp_path):
    path = tmp_path / "split.json"
    path.write_text("train: a")
    with pytest.raises(InputError, match="JSON"):
        split_cases(_dataset(cases_of(["a"])), split_file=path)


@pytest.mark.parametrize("fractions", [(0.5, 0.2, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), (0.8, 0.2)])
def test_bad_split_fractions_are_a_config_error(fractions):
    with pytest.raises(ConfigError, match="fractions"):
        split_cases(_dataset(cases_of(["a", "b", "c"])), fractions=fractions)


def _dataset(cases):
    from sra_seg_core.datasets import Dataset

    return Dataset(root=None, layout="folder", cases=cases, num_classes=2, class_names=["background", "class 1"],
                   predefined={})


# --- labelled subset ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fraction", "patients"), [(0.05, 3), (0.1, 7), (0.2, 14), (1.0, 70)])
def test_labelled_fraction_of_70_patients_follows_the_published_table(fraction, patients):
    train = cases_of([f"patient{i:03d}" for i in range(70)])
    chosen = select_labelled(train, fraction=fraction)
    assert len({c.group for c in chosen}) == patients
    assert chosen == train[: 2 * patients]  # a prefix of the train order, both frames of each patient


def test_labelled_fraction_chooses_at_least_one_group():
    assert len(select_labelled(cases_of(["a", "b", "c"]), fraction=0.01)) == 2


def test_labelled_count_overrides_the_fraction():
    assert {c.group for c in select_labelled(cases_of(list("abcdef")), fraction=0.5, count=2)} == {"a", "b"}


def test_seeded_labelled_choice_is_reproducible_random_and_in_train_order():
    train = cases_of([f"g{i:02d}" for i in range(40)])
    first = select_labelled(train, fraction=0.25, seed=1)
    assert first == select_labelled(train, fraction=0.25, seed=1)
    assert first != select_labelled(train, fraction=0.25)
    assert first != select_labelled(train, fraction=0.25, seed=2)
    assert first == [c for c in train if c in first] and len(first) == 20


def test_labelled_choice_skips_groups_without_labels():
    train = cases_of(["u1"], labelled=False) + cases_of(["a", "b"])
    assert {c.group for c in select_labelled(train, count=2)} == {"a", "b"}


def test_asking_for_more_labelled_groups_than_exist_is_a_config_error():
    with pytest.raises(ConfigError, match="only 2 with labels"):
        select_labelled(cases_of(["u1"], labelled=False) + cases_of(["a", "b"]), count=3)


def test_labelled_selection_needs_a_fraction_or_a_count():
    with pytest.raises(ConfigError, match="fraction or a count"):
        select_labelled(cases_of(["a"]))


# --- normalisation and resizing -------------------------------------------------------------------------------
def test_minmax_normalisation_maps_to_exactly_zero_and_one():
    out = normalise_minmax(np.array([[-50, 0], [25, 150]], dtype=np.int16))
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert out[0, 1] == pytest.approx(0.25)


def test_minmax_normalisation_of_a_constant_volume_is_zeros():
    out = normalise_minmax(np.full((2, 3, 3), 7.0))
    assert out.dtype == np.float32 and not np.isnan(out).any() and (out == 0).all()


def test_nearest_resize_keeps_label_values_and_dtype():
    labels = label_map(0, (3, 17, 11), classes=4) * 2
    out = resize_slices(labels, (32, 32), "nearest")
    assert out.shape == (3, 32, 32) and out.dtype == np.uint8
    assert set(np.unique(out)) <= set(np.unique(labels))


def test_nearest_resize_by_two_repeats_each_pixel():
    labels = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    assert np.array_equal(resize_slices(labels, (4, 6), "nearest")[0], labels[0].repeat(2, 0).repeat(2, 1))


def test_linear_resize_interpolates_between_neighbours():
    ramp = np.array([[[0.0, 1.0]]], dtype=np.float32).repeat(2, axis=1)  # (1, 2, 2): 0 left, 1 right
    out = resize_slices(ramp, (2, 4), "linear")
    assert out.dtype == np.float32
    assert np.allclose(out[0, 0], [0.0, 0.25, 0.75, 1.0])  # bilinear, align_corners=False


def test_resize_of_a_tensor_returns_a_tensor():
    out = resize_slices(torch.zeros(2, 5, 5, dtype=torch.int64), (8, 8), "nearest")
    assert isinstance(out, torch.Tensor) and out.shape == (2, 8, 8) and out.dtype == torch.int64


def test_resize_to_the_same_size_changes_nothing():
    images = volume(0, (2, 6, 6))
    assert np.array_equal(resize_slices(images, 6, "linear"), images)


# --- loading slices and volumes -------------------------------------------------------------------------------
def test_load_slices_gives_every_slice_resized_normalised_and_labelled(tmp_path):
    write_acdc(tmp_path, [1, 2], shape=(3, 10, 12))
    dataset = discover(tmp_path)
    slices = load_slices(dataset.cases, size=16, num_classes=4)
    assert len(slices) == 4 * 3
    assert slices.images.shape == (12, 16, 16) and slices.images.dtype == np.float32
    assert slices.labels.shape == (12, 16, 16) and slices.labels.dtype == np.uint8
    assert slices.images.min() >= 0.0 and slices.images.max() <= 1.0
    assert set(np.unique(slices.labels)) <= {0, 1, 2, 3}
    assert slices.case_ids[:3] == ["patient001_frame01"] * 3 and list(slices.slice_index[:4]) == [0, 1, 2, 0]


def test_load_slices_normalises_each_volume_on_its_own(tmp_path):
    write_nifti(tmp_path / "dim.nii.gz", volume(1, scale=1.0))
    write_nifti(tmp_path / "bright.nii.gz", volume(2, scale=5000.0) + 1000)
    slices = load_slices(discover(tmp_path).cases, size=8, labels=False)
    for case in ("dim", "bright"):
        part = slices.images[[i for i, c in enumerate(slices.case_ids) if c == case]]
        assert part.min() == 0.0 and part.max() == 1.0


def test_load_slices_labels_are_resized_with_nearest(tmp_path):
    write_nifti(tmp_path / "x.nii.gz", volume(1, (1, 5, 7)))
    write_nifti(tmp_path / "x_gt.nii.gz", np.array([[[0, 3] * 3 + [0]] * 5], dtype=np.uint8))
    slices = load_slices(discover(tmp_path).cases, size=20)
    assert set(np.unique(slices.labels)) == {0, 3}


def test_load_slices_without_labels_leaves_them_out(tmp_path):
    slices = load_slices(discover(write_generic(tmp_path)).cases, size=8, labels=False)
    assert slices.labels is None and len(slices) == 6


def test_load_slices_needing_labels_names_the_case_without_one(tmp_path):
    cases = discover(write_generic(tmp_path)).cases
    with pytest.raises(InputError, match="no label file: c;") as err:
        load_slices(cases, size=8)
    assert err.value.path.endswith("c.nii.gz")


def test_load_slices_can_drop_slices_without_foreground(tmp_path):
    labels = np.zeros((3, 8, 8), dtype=np.uint8)
    labels[1, 2:4, 2:4] = 1
    write_nifti(tmp_path / "x.nii.gz", volume(1, (3, 8, 8)))
    write_nifti(tmp_path / "x_gt.nii.gz", labels)
    slices = load_slices(discover(tmp_path).cases, size=8, drop_empty=True)
    assert list(slices.slice_index) == [1] and slices.labels[0].sum() == 4


def test_load_slices_of_no_cases_is_empty_with_the_right_shape():
    slices = load_slices([], size=16)
    assert len(slices) == 0 and slices.images.shape == (0, 16, 16) and slices.labels.shape == (0, 16, 16)


def test_load_volume_keeps_the_geometry_and_normalises(tmp_path):
    write_acdc(tmp_path, [1], shape=(3, 10, 12))
    image, label = load_volume(discover(tmp_path).cases[0], num_classes=4)
    assert image.shape == (3, 10, 12) and np.allclose(image.affine, AFFINE)
    assert image.array.dtype == np.float32 and image.array.min() == 0.0 and image.array.max() == 1.0
    assert label.array.dtype == np.uint8 and label.same_geometry(image)
    assert np.array_equal(label.array, label_map(101, (3, 10, 12)))


def test_load_volume_of_an_unlabelled_case_has_no_label(tmp_path):
    dataset = discover(write_generic(tmp_path))
    assert load_volume(next(c for c in dataset.cases if c.case_id == "c"))[1] is None


def test_fives_images_load_grey_with_binary_labels(tmp_path):
    dataset = discover(write_fives(tmp_path))
    slices = load_slices(dataset.cases, size=32, grey=dataset.grey, binarize=dataset.binarize_labels,
                         num_classes=dataset.num_classes)
    assert slices.images.shape == (4, 32, 32) and set(np.unique(slices.labels)) == {0, 1}


def test_4d_frame_is_served_from_its_series(tmp_path):
    folder = write_acdc_patient(tmp_path, 1, frames=(1, 2), shape=(2, 4, 4))
    (folder / "patient001_frame02.nii.gz").unlink()
    frames = [np.full((2, 4, 4), 5.0) for _ in range(3)]
    frames[1] = volume(9, (2, 4, 4))  # ACDC frame 2 = file frame 1: the only one that is not constant
    write_series(folder / "patient001_4d.nii.gz", frames)
    image, label = load_volume(discover(tmp_path).cases[1], num_classes=4)
    assert np.allclose(image.array, normalise_minmax(frames[1]))
    assert label.shape == (2, 4, 4)


def test_dicom_series_folder_is_one_image_paired_with_a_label_beside_it(tmp_path):
    from sra_seg_core.image import Image
    from sra_seg_core.io import write_image

    ct = Image.from_spacing((volume(1, (3, 8, 8)) * 10).astype(np.int16), (0.7, 0.7, 2.5))
    write_image(ct, tmp_path / "ct1/")
    write_image(ct.with_array(label_map(1, (3, 8, 8), classes=2)), tmp_path / "ct1_gt.nii.gz")
    dataset = discover(tmp_path)
    assert [(c.case_id, c.image.name, c.label.name) for c in dataset.cases] == [("ct1", "ct1", "ct1_gt.nii.gz")]
    image, label = load_volume(dataset.cases[0], num_classes=2)
    assert image.shape == label.shape == (3, 8, 8)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_resize_gives_the_same_result_on_the_gpu(mode):
    slices = volume(5, (4, 37, 53)) if mode == "linear" else label_map(5, (4, 37, 53))
    on_gpu = resize_slices(torch.from_numpy(slices).cuda(), (64, 64), mode)
    assert np.allclose(on_gpu.cpu().numpy(), resize_slices(slices, (64, 64), mode), atol=1e-5)


# --- with the phantom generator ---------------------------------------------------------------------------------
def test_phantom_acdc_tree_is_discovered_split_and_served(tmp_path):
    from sra_seg_core.phantoms import write_acdc

    write_acdc(tmp_path / "real", cases=4, seed=1, shape=(3, 32, 32))
    write_acdc(tmp_path / "synthetic", cases=2, seed=1, style="synthetic", labels=False, first_id=50,
               shape=(3, 32, 32))
    dataset = discover(tmp_path / "real")
    splits = split_cases(dataset)
    assert dataset.layout == "acdc" and len(dataset.cases) == 8
    assert [len({c.group for c in splits[s]}) for s in ("train", "val", "test")] == [2, 1, 1]
    labelled = load_slices(select_labelled(splits["train"], count=1), size=64, num_classes=dataset.num_classes)
    assert len(labelled) == 6 and set(np.unique(labelled.labels)) == {0, 1, 2, 3}
    pool = discover_synthetic(tmp_path / "synthetic")
    assert len(pool.cases) == 4 and all(c.label is None for c in pool.cases)
    assert len(load_slices(pool.cases, size=64, labels=False)) == 12


def test_phantom_fives_tree_is_discovered_with_its_test_split_and_binary_masks(tmp_path):
    from sra_seg_core.phantoms import write_fives

    write_fives(tmp_path, cases=4, seed=2, size=64)
    dataset = discover(tmp_path)
    assert dataset.layout == "fives" and [len(dataset.predefined[s]) for s in ("train", "test")] == [3, 1]
    slices = load_slices(dataset.cases, size=32, num_classes=2, grey=dataset.grey, binarize=dataset.binarize_labels)
    assert slices.images.shape == (4, 32, 32) and set(np.unique(slices.labels)) == {0, 1}
