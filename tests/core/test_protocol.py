"""The ``reference`` protocol reproduces the released code item by item; ``studio`` keeps our choices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from sra_seg_core.augment import reference_augment_slice, reference_batch
from sra_seg_core.blend import box_mask
from sra_seg_core.config import RunConfig, preset
from sra_seg_core.datasets.slices import resize_slices, zoom_order0
from sra_seg_core.inference import predict_volume
from sra_seg_core.metrics import binary_metrics
from sra_seg_core.protocol import config_choices, protocol_choices
from sra_seg_core.trainer import EpochSampler, Trainer


def _slice(h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random((h, w)).astype(np.float32)
    label = rng.integers(0, 4, (h, w)).astype(np.uint8)
    return image, label


# --- resizing ----------------------------------------------------------------------------------------------------
def test_zoom_order0_is_scipys_order0_zoom_with_the_released_factors():
    image, label = _slice()
    assert np.array_equal(zoom_order0(image, 64), ndimage.zoom(image, (64 / 37, 64 / 53), order=0))
    assert np.array_equal(zoom_order0(label, 64), ndimage.zoom(label, (64 / 37, 64 / 53), order=0))


def test_zoom0_resizes_images_without_new_values_unlike_bilinear():
    image, _ = _slice()
    zoomed = resize_slices(image[None], 64, "zoom0")
    assert zoomed.shape == (1, 64, 64)
    assert set(np.unique(zoomed)) <= set(np.unique(image))
    assert not set(np.unique(resize_slices(image[None], 64, "linear"))) <= set(np.unique(image))


def test_reference_prediction_zooms_order0_down_and_back():
    class Threshold(torch.nn.Module):  # class 1 where the input is above 0.5: the prediction is the resized input
        def forward(self, x):
            return torch.cat([torch.full_like(x, 0.5), x], dim=1), None

    image, _ = _slice()
    pred = predict_volume(Threshold(), image[None], size=64, device=torch.device("cpu"), resize="zoom0")
    down = zoom_order0(image, 64) > 0.5
    assert np.array_equal(pred[0], zoom_order0(down.astype(np.uint8), (37, 53)))


# --- augmentation ------------------------------------------------------------------------------------------------
def test_reference_rotation_is_a_whole_degree_in_minus20_to_19_nearest_neighbour():
    image, label = _slice(40, 40)
    seen = set()
    for seed in range(60):
        out, out_label = reference_augment_slice(image, label, np.random.default_rng(seed), p_rot_flip=0.0,
                                                 p_rotate=1.0)
        angle = next(a for a in range(-20, 20)
                     if np.array_equal(out, ndimage.rotate(image, a, order=0, reshape=False)))
        assert np.array_equal(out_label, ndimage.rotate(label, angle, order=0, reshape=False))
        seen.add(angle)
    assert min(seen) >= -20 and max(seen) <= 19 and len(seen) > 20


def test_reference_rot_flip_runs_at_native_size_and_swaps_a_non_square_shape():
    image, label = _slice(30, 50)
    shapes = set()
    for seed in range(20):
        out, out_label = reference_augment_slice(image, label, np.random.default_rng(seed), p_rot_flip=1.0)
        candidates = [np.flip(np.rot90(image, k), axis=a) for k in range(4) for a in range(2)]
        assert any(np.array_equal(out, c) for c in candidates)
        assert out_label.shape == out.shape
        shapes.add(out.shape)
    assert shapes == {(30, 50), (50, 30)}


def test_reference_batch_augments_before_the_zoom():
    image, label = _slice(30, 50)
    rng_seed = 3
    x, y = reference_batch([image], [label], [0], 64, np.random.default_rng(rng_seed), p_rot_flip=1.0)
    native, native_label = reference_augment_slice(image, label, np.random.default_rng(rng_seed), p_rot_flip=1.0)
    assert x.shape == (1, 1, 64, 64) and y.dtype == torch.int64
    assert np.array_equal(x[0, 0].numpy(), zoom_order0(native, 64))
    assert np.array_equal(y[0].numpy(), zoom_order0(native_label, 64))


# --- mask, sampler ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("inclusive,last", [(True, 10), (False, 9)])
def test_box_corner_range_is_0_to_h_minus_h_inclusive_for_acdc(inclusive, last):
    g = torch.Generator().manual_seed(0)
    m = box_mask(400, 30, 30, per_sample=True, corner_inclusive=inclusive, generator=g)[:, 0]
    tops = (m == 0).any(dim=2).float().argmax(dim=1)  # first row of each sample's 20-row box
    assert int(tops.min()) == 0 and int(tops.max()) == last  # 30 - 20 = 10 (ACDC: torch.randint(0, H - h + 1))


def test_the_reference_corner_is_inclusive_and_the_fives_preset_keeps_the_exclusive_range():
    config = RunConfig()
    config.train.protocol = "reference"
    assert config_choices(config).corner_inclusive
    fives = preset("fives")
    fives.train.protocol = "reference"
    assert not config_choices(fives).corner_inclusive
    assert not config_choices(RunConfig()).corner_inclusive


def test_drop_last_uses_whole_batches_of_each_epoch_only():
    sampler = EpochSampler(10, 4, seed=1, device=torch.device("cpu"), iterations=3, drop_last=True)
    epoch0 = torch.cat([sampler.indices(0), sampler.indices(1)])
    assert len(set(epoch0.tolist())) == 8  # two whole batches, two slices left out
    epoch1 = torch.randperm(10, generator=torch.Generator().manual_seed(1 * 1_000_003 + 1))
    assert torch.equal(sampler.indices(2), epoch1[:4])  # the third batch opens the next epoch
    assert len(EpochSampler(10, 4, seed=1, device=torch.device("cpu"), iterations=3).indices(2)) == 4


# --- choices -----------------------------------------------------------------------------------------------------
def test_reference_is_fp32_and_studio_allows_amp():
    assert not protocol_choices("reference").amp_allowed and protocol_choices("studio").amp_allowed


def test_fives_preset_has_56_labelled_and_8_validation_images():
    data = preset("fives").data
    assert (data.labeled_count, data.max_val_cases) == (56, 8)


def test_checkpoints_from_before_the_protocol_are_studio():
    assert config_choices({"train": {}}).name == "studio"
    assert config_choices({"train": {"protocol": "reference"}}).resize == "zoom0"


def test_reference_scores_a_single_image_as_a_volume():
    pred = np.zeros((1, 20, 20), bool)
    gt = np.zeros((1, 20, 20), bool)
    pred[0, 4:12, 4:12] = True
    gt[0, 6:14, 6:14] = True
    flat = binary_metrics(pred, gt)
    volume = binary_metrics(pred, gt, flat_as_2d=False)
    assert flat["dice"] == volume["dice"]
    # as a (1, H, W) volume every foreground pixel is surface: ASD is over all of P to all of G
    p, g = np.argwhere(pred[0]), np.argwhere(gt[0])
    brute = np.sqrt(((p[:, None] - g[None]) ** 2).sum(-1)).min(1).mean()
    assert volume["asd"] == pytest.approx(brute)
    assert flat["asd"] != pytest.approx(brute)


# --- training ----------------------------------------------------------------------------------------------------
def _reference_tiny(phantoms, **sets):
    c = preset("tiny")
    c.data.root, c.data.synthetic = str(phantoms / "real"), str(phantoms / "synthetic")
    c.train.protocol = "reference"
    c.alignment.allow_untrained, c.alignment.download, c.alignment.encoder_depth = True, False, 1
    c.train.pretrain_iters, c.train.selftrain_iters, c.train.num_threads = 2, 2, 2
    for key, value in sets.items():
        c.set(key.replace("__", "."), value)
    return c


def test_reference_sa_term_is_logged_and_sends_no_gradient(phantoms, tmp_path):
    """The released SA term changes the logged loss but not one weight: with it and without it the runs are equal."""
    events = []
    small = {"data__image_size": 32, "train__validate_every": 4}
    Trainer(_reference_tiny(phantoms, **small), tmp_path / "sa", emit=events.append).run()
    Trainer(_reference_tiny(phantoms, alignment__enabled=False, **small), tmp_path / "nosa").run()
    sa_losses = [e.losses["sa"] for e in events if e.event == "progress" and e.stage == "selftrain"]
    assert sa_losses and all(v > 0 for v in sa_losses)
    a = torch.load(tmp_path / "sa" / "checkpoints" / "latest.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "nosa" / "checkpoints" / "latest.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_reference_sa_loss_has_no_graph_to_the_inputs():
    from sra_seg_core.alignment import load_reference_encoder, reference_sa_loss

    encoder, info = load_reference_encoder(allow_untrained=True, download=False, depth=1)
    assert info.name == "vit_base_patch16_224" and info.embed_dim == 1000  # the ImageNet classifier's logits
    real = torch.rand(3, 1, 32, 32, requires_grad=True)
    loss = reference_sa_loss(real, torch.rand(2, 1, 32, 32), encoder)
    assert loss.ndim == 0 and not loss.requires_grad


def test_reference_run_trains_on_zoomed_native_slices_in_fp32(phantoms, tmp_path):
    trainer = Trainer(_reference_tiny(phantoms, alignment__enabled=False, data__image_size=32), tmp_path / "run")
    result = trainer.run()
    assert result.status == "finished" and not trainer.autocast
    assert trainer.data.labeled_native is not None and trainer.data.summary["protocol"] == "reference"
    assert trainer.data.labeled_native[0].shape == (64, 64)  # the phantoms' own size, kept for augmentation
    assert np.array_equal(trainer.data.labeled_images[0, 0].numpy(), zoom_order0(trainer.data.labeled_native[0], 32))


def test_train_cli_protocol_flag_sets_the_config():
    import argparse

    from sra_seg_core.commands import train

    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    assert train.resolve_config(parser.parse_args(["train", "--protocol", "reference"])).train.protocol == "reference"
    assert train.resolve_config(parser.parse_args(["train"])).train.protocol == "studio"


def test_a_loaded_model_resizes_the_way_its_run_trained():
    from sra_seg_core.inference import LoadedModel

    def loaded(config):
        return LoadedModel(model=None, num_classes=4, image_size=64, config=config)

    assert loaded({"train": {"protocol": "reference"}}).resize == "zoom0"
    assert loaded({}).resize == "bilinear"


def test_laptop_preset_is_a_valid_full_width_schedule():
    c = preset("laptop").validate()
    assert c.model.channels == (16, 32, 64, 128, 256) and c.data.image_size == 128
    assert c.train.pretrain_iters + c.train.selftrain_iters == 5_800
