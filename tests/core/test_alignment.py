"""Specification of the DINOv2 similarity alignment: encoder loading, embedding bank, projector and loss."""

import math
import warnings

import numpy as np
import pytest
import safetensors.torch
import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import resample_abs_pos_embed
from torch import nn

from sra_seg_core import alignment
from sra_seg_core.alignment import (
    ENCODERS,
    IMAGE_SIZE,
    EmbeddingBank,
    Projector,
    alignment_loss,
    build_bank,
    encode,
    load_encoder,
    nearest,
    preprocess,
    region_pool,
    resolve_encoder_name,
)
from sra_seg_core.errors import ConfigError, EncoderWeightsError, InputError

SMALL = ENCODERS["small"]
TINY = {"depth": 2}  # two transformer blocks: the real architecture, fast enough for unit tests


def tiny_untrained(**kwargs):
    return load_encoder(SMALL, allow_untrained=True, download=False, **TINY, **kwargs)


@pytest.fixture(scope="module")
def encoder():
    return tiny_untrained()


def source_model(embed_dim=384, depth=2, seed=1):
    """A timm DINOv2-small-shaped model with random weights that matter (layer scale 1, smooth pos_embed)."""
    torch.manual_seed(seed)
    model = timm.create_model(SMALL, img_size=IMAGE_SIZE, num_classes=0, depth=depth, embed_dim=embed_dim,
                              num_heads=embed_dim // 64)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(1.0)
        # A smooth position embedding survives the 16 -> 37 -> 16 grid round trip of the official format.
        yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
        freq = torch.arange(1, embed_dim + 1) / embed_dim
        grid = torch.sin(math.pi * (yy.reshape(-1, 1) * freq + xx.reshape(-1, 1) * freq.flip(0)))
        model.pos_embed[0, 1:] = grid
    return model.eval()


def official_state_dict(model):
    """``model``'s weights laid out like dinov2_vits14_pretrain.pth: mask_token and a 37x37 (518 px) pos_embed."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["mask_token"] = torch.zeros(1, model.embed_dim)
    state["pos_embed"] = resample_abs_pos_embed(state["pos_embed"], new_size=(37, 37), num_prefix_tokens=1)
    return state


def images(n, size=32, seed=0):
    return np.random.default_rng(seed).random((n, size, size), dtype=np.float32)


# --- encoder names and weights -------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [("small", SMALL), ("large", ENCODERS["large"]), (SMALL, SMALL)])
def test_encoder_names_resolve_to_timm_models(given, expected):
    assert resolve_encoder_name(given) == expected


def test_unknown_encoder_name_is_a_config_error():
    with pytest.raises(ConfigError, match="small"):
        resolve_encoder_name("resnet50")


def test_no_weights_and_untrained_not_allowed_names_both_options():
    with pytest.raises(EncoderWeightsError) as err:
        load_encoder(SMALL, download=False, **TINY)
    assert "--dinov2-weights" in str(err.value) and "--allow-untrained-encoder" in str(err.value)


def test_untrained_encoder_is_frozen_and_labelled_untrained(encoder):
    model, info = encoder
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert info.weights == "untrained" and not info.pretrained
    assert info.embed_dim == 384 and info.name == SMALL


def test_untrained_encoder_is_deterministic_and_keeps_the_callers_rng():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    (first, info1), (second, info2) = tiny_untrained(), tiny_untrained()
    assert torch.equal(torch.get_rng_state(), state)
    assert info1 == info2
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_model_arguments_are_part_of_the_weights_digest():
    _, two = tiny_untrained()
    _, one = load_encoder(SMALL, allow_untrained=True, download=False, depth=1)
    assert two.digest != one.digest


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """An empty Hugging Face cache and no network."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_offline_download_fails_cleanly_naming_both_options(no_hub):
    with pytest.raises(EncoderWeightsError, match="HF_HUB_OFFLINE") as err:
        load_encoder(SMALL, download=True, **TINY)
    assert "--dinov2-weights" in str(err.value) and "--allow-untrained-encoder" in str(err.value)


def test_offline_download_falls_back_to_untrained_with_a_warning_when_allowed(no_hub):
    with pytest.warns(UserWarning, match="untrained"):
        _, info = load_encoder(SMALL, download=True, allow_untrained=True, **TINY)
    assert info.weights == "untrained"


def test_unreachable_hub_fails_within_seconds(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://sra-seg-test.invalid")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    with pytest.raises(EncoderWeightsError, match="cannot reach sra-seg-test.invalid"):
        load_encoder(SMALL, download=True, **TINY)


def features_of(model, n=2):
    x = preprocess(torch.from_numpy(images(n, size=48, seed=7))[:, None])
    with torch.no_grad():
        return model.forward_features(x)


def test_timm_safetensors_weights_reproduce_the_source_model(tmp_path):
    source = source_model()
    path = tmp_path / "dinov2_small.safetensors"
    safetensors.torch.save_file(source.state_dict(), path)
    model, info = load_encoder(SMALL, weights_file=path, **TINY)
    assert torch.equal(features_of(model), features_of(source))
    assert info.weights == f"file:{path.resolve()}" and info.pretrained
    assert len(info.digest.split(";")[0]) == 16


def test_official_dinov2_pth_is_mapped_onto_timm(tmp_path):
    source = source_model()
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(official_state_dict(source), path)
    model, _ = load_encoder(SMALL, weights_file=path, **TINY)
    loaded = model.state_dict()
    for key, value in source.state_dict().items():
        if key != "pos_embed":
            assert torch.equal(loaded[key], value), key
    # pos_embed went 16x16 -> 37x37 (the file) -> 16x16 (the model): close, not exact.
    torch.testing.assert_close(loaded["pos_embed"], source.pos_embed, atol=0.05, rtol=0)
    torch.testing.assert_close(features_of(model), features_of(source), atol=0.05, rtol=0)


def write_text(path):
    path.write_text("these are not weights\n")


def write_truncated_pth(path):
    torch.save(source_model().state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def write_truncated_safetensors(path):
    safetensors.torch.save_file(source_model().state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def write_base_sized(path):
    safetensors.torch.save_file(source_model(embed_dim=192).state_dict(), path)


def write_one_block(path):
    safetensors.torch.save_file(source_model(depth=1).state_dict(), path)


def write_tensor_list(path):
    torch.save([torch.zeros(3)], path)


@pytest.mark.parametrize(
    "write, name, message",
    [
        (write_text, "weights.pth", "not a readable"),
        (write_truncated_pth, "weights.pth", "not a readable"),
        (write_truncated_safetensors, "weights.safetensors", "not a readable"),
        (write_base_sized, "weights.safetensors", "expects 384-dim weights, the file has 192-dim"),
        (write_one_block, "weights.safetensors", "has 2 transformer blocks, the file has 1"),
        (write_tensor_list, "weights.pth", "state dict"),
    ],
)
def test_unusable_weights_file_is_an_input_error_naming_the_file(tmp_path, write, name, message):
    path = tmp_path / name
    write(path)
    with pytest.raises(InputError, match=message) as err:
        load_encoder(SMALL, weights_file=path, **TINY)
    assert err.value.path == str(path.resolve())


def test_missing_weights_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_encoder(SMALL, weights_file=tmp_path / "absent.pth", **TINY)


# --- preprocessing and encoding -------------------------------------------------------------------------------------


def test_preprocess_makes_three_normalised_channels_at_224():
    out = preprocess(torch.full((2, 1, 40, 30), 0.25))
    assert out.shape == (2, 3, IMAGE_SIZE, IMAGE_SIZE) and out.dtype == torch.float32
    expected = (0.25 - torch.tensor(IMAGENET_DEFAULT_MEAN)) / torch.tensor(IMAGENET_DEFAULT_STD)
    torch.testing.assert_close(out[1, :, 100, 7], expected)


def test_encode_returns_float32_cls_and_float16_tokens(encoder):
    cls, tokens = encode(encoder[0], images(3), tokens=True)
    assert cls.shape == (3, 384) and cls.dtype == torch.float32
    assert tokens.shape == (3, 256, 384) and tokens.dtype == torch.float16


def test_encode_without_tokens_returns_none(encoder):
    _, tokens = encode(encoder[0], torch.from_numpy(images(2))[:, None])
    assert tokens is None


def test_encode_does_not_depend_on_the_batch_size(encoder):
    whole, _ = encode(encoder[0], images(5), batch_size=8)
    batched, _ = encode(encoder[0], images(5), batch_size=2)
    torch.testing.assert_close(batched, whole, atol=1e-5, rtol=1e-5)


def test_encode_reports_progress_per_batch(encoder):
    seen = []
    encode(encoder[0], images(5), batch_size=2, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


# --- the embedding bank ---------------------------------------------------------------------------------------------


class CountingEncoder(nn.Module):
    """Wraps an encoder and counts how often it runs."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0
        self.embed_dim, self.num_prefix_tokens = inner.embed_dim, inner.num_prefix_tokens

    def forward_features(self, x):
        self.calls += 1
        return self.inner.forward_features(x)


def test_bank_is_normalised_and_keeps_tokens(encoder):
    bank = build_bank(images(4), *encoder, tokens=True)
    torch.testing.assert_close(bank.cls.norm(dim=1), torch.ones(4))
    assert bank.tokens.shape == (4, 256, 384) and bank.info == encoder[1]


def test_second_build_is_a_cache_hit_that_does_not_run_the_encoder(encoder, tmp_path):
    counting = CountingEncoder(encoder[0])
    first = build_bank(images(4), counting, encoder[1], cache_dir=tmp_path, tokens=True)
    runs = counting.calls
    second = build_bank(images(4), counting, encoder[1], cache_dir=tmp_path, tokens=True)
    assert runs > 0 and counting.calls == runs
    assert second.key == first.key
    assert torch.equal(second.cls, first.cls) and torch.equal(second.tokens, first.tokens)


def test_one_changed_pixel_changes_the_key(encoder):
    data = images(2)
    changed = data.copy()
    changed[1, 5, 5] += 0.01
    assert build_bank(data, *encoder).key != build_bank(changed, *encoder).key


def test_token_flag_changes_the_key(encoder):
    assert build_bank(images(2), *encoder).key != build_bank(images(2), *encoder, tokens=True).key


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_corrupt_cache_is_rebuilt_with_a_warning(encoder, tmp_path, damage):
    bank = build_bank(images(3), *encoder, cache_dir=tmp_path)
    path = tmp_path / f"{bank.key}.safetensors"
    path.write_bytes(b"garbage" if damage == "garbage" else path.read_bytes()[:-100])
    counting = CountingEncoder(encoder[0])
    with pytest.warns(UserWarning, match="recomputing"):
        rebuilt = build_bank(images(3), counting, encoder[1], cache_dir=tmp_path)
    assert counting.calls > 0
    torch.testing.assert_close(rebuilt.cls, bank.cls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_bank(images(3), counting, encoder[1], cache_dir=tmp_path)  # the rebuilt cache is whole again


def test_cache_hit_completes_the_progress_bar(encoder, tmp_path):
    build_bank(images(3), *encoder, cache_dir=tmp_path)
    seen = []
    build_bank(images(3), *encoder, cache_dir=tmp_path, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(3, 3)]


def test_bank_moves_between_devices(encoder):
    bank = build_bank(images(2), *encoder, tokens=True).to("cpu")
    assert isinstance(bank, EmbeddingBank) and bank.tokens.device.type == "cpu"


# --- nearest real slice ---------------------------------------------------------------------------------------------


def random_bank(n=50, dim=16, seed=0):
    cls = torch.nn.functional.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)), dim=1)
    return EmbeddingBank(cls, None, "test", alignment.EncoderInfo("test", "untrained", "test", dim))


@pytest.mark.parametrize("max_bytes", [alignment._MAX_SIMILARITY_BYTES, 4 * 50 * 3])
def test_nearest_finds_the_matching_bank_row(monkeypatch, max_bytes):
    monkeypatch.setattr(alignment, "_MAX_SIMILARITY_BYTES", max_bytes)  # the small value forces 3-row chunks
    bank = random_bank()
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))[:20]
    index, similarity = nearest(bank, bank.cls[perm] * 3.0)  # scale: cosine similarity ignores length
    assert torch.equal(index, perm) and index.dtype == torch.int64
    torch.testing.assert_close(similarity, torch.ones(20))


# --- region pooling, projector and loss -----------------------------------------------------------------------------


def test_region_pool_with_half_weights_is_the_mean_over_that_half():
    features = torch.randn(2, 8, 4, 4)
    weights = torch.zeros(2, 1, 64, 64)
    weights[..., :, 32:] = 1.0  # the right half of the image = the right two feature columns
    torch.testing.assert_close(region_pool(features, weights), features[..., 2:].mean(dim=(2, 3)))


def test_region_pool_without_weights_is_the_plain_mean():
    features = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(region_pool(features, None), features.mean(dim=(2, 3)))


def test_region_pool_with_zero_weights_is_finite():
    pooled = region_pool(torch.randn(2, 8, 4, 4), torch.zeros(2, 1, 64, 64))
    assert torch.isfinite(pooled).all()


def test_pooled_projector_maps_to_one_embedding_per_image():
    out = Projector(32, 48, hidden=64)(torch.randn(3, 32, 16, 16), torch.rand(3, 1, 256, 256))
    assert out.shape == (3, 48)


@pytest.mark.parametrize("grid", [16, 8])
def test_token_projector_maps_to_the_16x16_dinov2_grid(grid):
    tokens, weights = Projector(32, 48, mode="tokens", hidden=64)(torch.randn(3, 32, grid, grid),
                                                                  torch.ones(3, 1, 256, 256))
    assert tokens.shape == (3, 256, 48)
    torch.testing.assert_close(weights, torch.ones(3, 256))


def test_token_weights_are_the_region_weights_on_the_token_grid():
    region = torch.zeros(1, 1, 256, 256)
    region[..., :128, :] = 1.0  # the top half: the first 8 of 16 token rows
    _, weights = Projector(8, 16, mode="tokens", hidden=16)(torch.randn(1, 8, 16, 16), region)
    assert torch.equal(weights.view(16, 16)[:8], torch.ones(8, 16))
    assert torch.equal(weights.view(16, 16)[8:], torch.zeros(8, 16))


def test_unknown_projector_mode_is_a_config_error():
    with pytest.raises(ConfigError):
        Projector(mode="attention")


def test_alignment_loss_is_zero_for_parallel_and_two_for_opposite_vectors():
    target = torch.randn(4, 16)
    torch.testing.assert_close(alignment_loss(2 * target, target), torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(alignment_loss(-target, target), torch.tensor(2.0))


def test_alignment_loss_weights_ignore_zero_weighted_tokens():
    target = torch.randn(2, 5, 16)
    pred = target.clone()
    pred[:, 0] = -target[:, 0]  # token 0 is wrong everywhere
    weight = torch.ones(2, 5)
    assert alignment_loss(pred, target, weight) > 0.3
    weight[:, 0] = 0
    torch.testing.assert_close(alignment_loss(pred, target, weight), torch.tensor(0.0), atol=1e-5, rtol=0)


def test_alignment_loss_accepts_per_sample_weights_for_tokens():
    target = torch.randn(2, 5, 16)
    pred = torch.stack([target[0], -target[1]])
    torch.testing.assert_close(alignment_loss(pred, target, torch.tensor([1.0, 0.0])), torch.tensor(0.0),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["pooled", "tokens"])
def test_sa_loss_sends_gradient_into_the_student(mode):
    # The published SA term has no student parameter in its graph; this one must reach the student's weights.
    student = nn.Conv2d(1, 32, kernel_size=16, stride=16)  # a one-layer "encoder": 256x256 -> 16x16 bottleneck
    projector = Projector(32, 48, mode=mode, hidden=64)
    out = projector(student(torch.rand(2, 1, 256, 256)), torch.rand(2, 1, 256, 256))
    target = torch.randn(2, 48) if mode == "pooled" else torch.randn(2, 256, 48).half()
    loss = alignment_loss(out, target) if mode == "pooled" else alignment_loss(out[0], target, out[1])
    loss.backward()
    assert student.weight.grad is not None and student.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["pooled", "tokens"])
def test_optimising_features_and_projector_lowers_the_sa_loss(mode):
    torch.manual_seed(0)
    features = nn.Parameter(torch.randn(4, 32, 16, 16))
    projector = Projector(32, 48, mode=mode, hidden=64)
    weights = torch.rand(4, 1, 256, 256)
    target = torch.randn(4, 48) if mode == "pooled" else torch.randn(4, 256, 48).half()
    optimiser = torch.optim.Adam([features, *projector.parameters()], lr=3e-2)

    def loss_now():
        out = projector(features, weights)
        return alignment_loss(out, target) if mode == "pooled" else alignment_loss(out[0], target, out[1])

    initial = loss_now().item()
    for _ in range(50):
        optimiser.zero_grad()
        loss = loss_now()
        loss.backward()
        optimiser.step()
    assert loss_now().item() < 0.5 * initial
