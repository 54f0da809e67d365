"""The typed config tree: presets, files, --set and validation."""

import pytest

from sra_seg_core.config import PRESETS, RunConfig, load_config_file, preset, save_config_file
from sra_seg_core.errors import ConfigError


def test_defaults_are_the_reference_numbers():
    c = RunConfig()
    assert (c.optim.lr, c.optim.momentum, c.optim.weight_decay) == (0.01, 0.9, 1e-4)
    assert (c.train.seed, c.train.batch_size, c.labeled_batch) == (1337, 24, 12)
    assert (c.train.pretrain_iters, c.train.selftrain_iters, c.train.validate_every) == (10_000, 50_000, 200)
    assert (c.train.ema_decay, c.alignment.weight) == (0.99, 0.1)
    assert (c.blend.smoothing, c.blend.kernel_size, c.blend.sigma) == ("gaussian", 5, 1.0)
    assert c.model.channels == (16, 32, 64, 128, 256) and c.model.dropout == (0.05, 0.1, 0.2, 0.3, 0.5)
    assert c.alignment.encoder == "vit_small_patch14_dinov2" and c.data.image_size == 256


def test_fives_preset_uses_the_box_filter_and_30k_self_training():
    c = preset("fives")
    assert (c.blend.smoothing, c.blend.kernel_size, c.train.selftrain_iters) == ("box", 7, 30_000)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid(name):
    preset(name).validate()


def test_set_parses_strings_to_field_types():
    c = RunConfig()
    c.set("train.batch_size", "8")
    c.set("blend.sigma", "2.5")
    c.set("alignment.enabled", "false")
    c.set("model.channels", "8,16,32,64,128")
    c.set("data.labeled_count", "none")
    assert (c.train.batch_size, c.blend.sigma, c.alignment.enabled) == (8, 2.5, False)
    assert c.model.channels == (8, 16, 32, 64, 128) and c.data.labeled_count is None


@pytest.mark.parametrize("key,value", [("train.nope", "1"), ("nope.x", "1"), ("train", "1"),
                                       ("train.batch_size", "eight"), ("alignment.enabled", "maybe")])
def test_bad_settings_are_config_errors_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key.split(".")[-1] if "." in key else key):
        RunConfig().set(key, value)


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_config_files_load_on_top_of_a_base(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    body = {".yaml": "train:\n  batch_size: 6\nblend:\n  sigma: 3.0\n",
            ".toml": "[train]\nbatch_size = 6\n[blend]\nsigma = 3.0\n",
            ".json": '{"train": {"batch_size": 6}, "blend": {"sigma": 3.0}}'}[suffix]
    path.write_text(body)
    c = load_config_file(path, base=preset("tiny"))
    assert c.train.batch_size == 6 and c.blend.sigma == 3.0 and c.data.image_size == 64


def test_saved_config_round_trips(tmp_path):
    c = preset("demo")
    c.set("alignment.weights_file", "/x/w.pth")
    save_config_file(c, tmp_path / "config.yaml")
    assert load_config_file(tmp_path / "config.yaml") == c


def test_broken_config_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config_file(path)


def test_validate_rejects_odd_labelled_halves():
    c = RunConfig()
    c.train.batch_size, c.train.labeled_batch = 24, 7
    with pytest.raises(ConfigError, match="labeled_batch"):
        c.validate()
