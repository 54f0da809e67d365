"""Similarity alignment (SA): a frozen DINOv2 encoder, the real-slice embedding bank, and the projector + loss.

The published SRA-Seg code computes its "SA" term from a frozen encoder applied to raw images, so no student
parameter is in that graph and the term sends zero gradient to the network. Here the gradient path is explicit:
the *student's* bottleneck features go through a small trainable :class:`Projector` into DINOv2 space and are
pulled towards fixed DINOv2 targets, so the loss trains the student (and the projector).

The encoder never runs inside the training loop. Before stage 2 the trainer embeds every labelled real slice and
every synthetic slice once with :func:`build_bank` (cached on disk), finds each synthetic slice's nearest real slice
``j*`` with :func:`nearest`, and in the loop only the projector runs::

    f = bottleneck of x1 = S_a·α + R_a·(1−α)                          # (B, 256, 16, 16), no extra forward pass
    l_syn  = alignment_loss(projector(f, α),     real_bank.cls[j_star[a]])    # synthetic region -> e(R_j*)
    l_real = alignment_loss(projector(f, 1 − α), real_bank.cls[own[a]])       # real region -> its own e(R)
    L_SA   = l_syn + l_real        # (averaged the same way over x2 = R_b·α + S_b·(1−α) with the weights swapped)

The real-region term keeps the projector from collapsing onto a constant. In ``mode="tokens"`` the projector
returns ``(tokens, token_weights)`` and the targets are the bank's patch tokens; pass the weights on as
``alignment_loss(tokens, bank.tokens[j], token_weights)``.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import safetensors.torch
import timm
import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models.vision_transformer import checkpoint_filter_fn
from torch import Tensor, nn

from sra_seg_core.atomic import atomic_write
from sra_seg_core.errors import ConfigError, EncoderWeightsError, InputError
from sra_seg_core.inference import load_failure

ENCODERS = {"small": "vit_small_patch14_dinov2", "base": "vit_base_patch14_dinov2", "large": "vit_large_patch14_dinov2"}
IMAGE_SIZE = 224  # a 16x16 patch grid with patch 14: the same grid as the U-Net bottleneck at 256x256
PATCH_SIZE = 14
TOKEN_GRID = IMAGE_SIZE // PATCH_SIZE
NUM_TOKENS = TOKEN_GRID * TOKEN_GRID

# Part of every bank cache key: bump it whenever preprocess() or the stored bank format changes.
_BANK_VERSION = f"sra-seg-dinov2-bank-v1:{IMAGE_SIZE}:bilinear-antialias:imagenet-norm"
_UNTRAINED_SEED = 0
_MAX_SIMILARITY_BYTES = 256 * 2**20
_HUB_PROBE_TIMEOUT_S = 5.0
_WEIGHTS_HELP = (
    "pass --dinov2-weights FILE (the official DINOv2 .pth, e.g. dinov2_vits14_pretrain.pth, or a timm .safetensors), "
    "or --allow-untrained-encoder to train with a random encoder (for tests and demos only)"
)


@dataclass(frozen=True)
class EncoderInfo:
    """Which encoder and which weights produced an embedding; part of every cache key and of a run's metadata."""

    name: str  # timm model name
    weights: str  # "timm-pretrained" | "file:<abs path>" | "untrained"
    digest: str  # identifies the weights: sha256 prefix of the file, "timm-pretrained:<name>", "untrained-seed0"
    embed_dim: int

    @property
    def pretrained(self) -> bool:
        return self.weights != "untrained"


def resolve_encoder_name(name_or_size: str) -> str:
    """Map ``"small"`` / ``"base"`` / ``"large"`` or a timm DINOv2 model name to the timm model name."""
    if name_or_size in ENCODERS:
        return ENCODERS[name_or_size]
    if "dinov2" in name_or_size and timm.is_model(name_or_size):
        return name_or_size
    raise ConfigError(
        f"unknown DINOv2 encoder {name_or_size!r}; use one of {', '.join(ENCODERS)} "
        f"or a timm DINOv2 model name such as {ENCODERS['small']}"
    )


def load_encoder(
    name: str = ENCODERS["small"],
    *,
    weights_file: str | os.PathLike | None = None,
    allow_untrained: bool = False,
    download: bool = True,
    device: str | torch.device = "cpu",
    **model_kwargs,
) -> tuple[nn.Module, EncoderInfo]:
    """Build a frozen DINOv2 ViT (eval mode, no gradients) for 224x224 input, and say which weights it has.

    Weights come from ``weights_file`` if given (official DINOv2 .pth or a timm .safetensors / .pth state dict; the
    37x37 position grid of the 518-pixel checkpoints is resampled to 16x16); else, if ``download``, from the timm
    weights on the Hugging Face hub (cache first; fails within seconds when offline or ``HF_HUB_OFFLINE=1``); else,
    if ``allow_untrained``, from a fixed-seed random initialisation. Otherwise raises :class:`EncoderWeightsError`.
    A download that fails falls through to the untrained encoder (with a warning) when that is allowed.
    ``model_kwargs`` go to ``timm.create_model`` (tests use ``depth=2``). The caller's RNG state is left untouched.
    """
    name = resolve_encoder_name(name)
    # Model construction draws random initial weights: fork the RNG so the caller's stream is unchanged, and seed it
    # so an untrained encoder is the same on every load.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_UNTRAINED_SEED)
        model = timm.create_model(name, img_size=IMAGE_SIZE, num_classes=0, **model_kwargs)

    if weights_file is not None:
        path = Path(weights_file).expanduser().resolve()
        _load_weights(model, path, name)
        weights, digest = f"file:{path}", _file_digest(path)
    else:
        try:
            path = _fetch_pretrained(name) if download else None
        except _HubUnavailable as err:
            path, problem = None, str(err)
        else:
            problem = "downloading is switched off"
        if path is not None:
            _load_weights(model, path, name)
            weights, digest = "timm-pretrained", f"timm-pretrained:{name}"
        elif allow_untrained:
            if download:
                warnings.warn(f"DINOv2 weights unavailable ({problem}); using an untrained encoder", stacklevel=2)
            weights, digest = "untrained", f"untrained-seed{_UNTRAINED_SEED}"
        else:
            raise EncoderWeightsError(f"no DINOv2 weights for {name} ({problem}); {_WEIGHTS_HELP}")
    # Extra model arguments (e.g. depth) change the embeddings, so they belong to the weights' identity.
    digest += "".join(f";{k}={v}" for k, v in sorted(model_kwargs.items()))
    info = EncoderInfo(name, weights, digest, model.embed_dim)

    model.requires_grad_(False)
    return model.eval().to(device), info


class _HubUnavailable(Exception):
    """The pretrained weights are neither cached nor downloadable right now."""


def _fetch_pretrained(name: str) -> Path:
    """Path of timm's DINOv2 safetensors in the Hugging Face cache, downloading it if the hub is reachable."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    try:
        return Path(hf_hub_download(repo, "model.safetensors", local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    # huggingface_hub reads HF_HUB_OFFLINE once at import; read it again so a setting made later is respected.
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        raise _HubUnavailable("HF_HUB_OFFLINE is set and the weights are not in the Hugging Face cache")
    # Without a network, huggingface_hub retries with back-off for about a minute; a direct connection attempt
    # answers in seconds. Behind a proxy that attempt proves nothing, so leave it to the download.
    if not any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        url = urlsplit(constants.ENDPOINT)
        port = url.port or (80 if url.scheme == "http" else 443)
        try:
            socket.create_connection((url.hostname, port), timeout=_HUB_PROBE_TIMEOUT_S).close()
        except OSError as err:
            raise _HubUnavailable(f"cannot reach {url.hostname} to download the weights: {err}") from err
    try:
        return Path(hf_hub_download(repo, "model.safetensors"))
    except Exception as err:  # the hub client raises many network and HTTP error types
        raise _HubUnavailable(f"downloading {repo} failed: {err}") from err


def _file_digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()[:16]


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    """Tensors of a .safetensors or .pth file, without unpickling anything but tensors and containers."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as err:
        raise InputError(f"cannot read the DINOv2 weights file: {err.strerror}", path) from err
    try:
        # safetensors starts with an 8-byte header length and then the JSON header; anything else goes to torch.
        if head[8:9] == b"{":
            state = safetensors.torch.load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file can fail anywhere in either parser
        raise InputError(
            f"not a readable PyTorch (.pth) or safetensors checkpoint ({load_failure(err)}); "
            "check that the download finished, or use the official DINOv2 .pth or a timm .safetensors",
            path,
        ) from err
    if isinstance(state, dict):
        state = state.get("model", state)
        state = state.get("state_dict", state)
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise InputError("does not hold a state dict of tensors; expected a DINOv2 checkpoint", path)
    return state


def _load_weights(model: nn.Module, path: Path, name: str) -> None:
    """Load a DINOv2 checkpoint into ``model``, explaining any mismatch in words."""
    state = _read_state_dict(path)
    if "cls_token" not in state or "patch_embed.proj.weight" not in state:
        raise InputError("has no ViT weights (no cls_token / patch_embed); expected a DINOv2 checkpoint", path)
    dim = state["cls_token"].shape[-1]
    if dim != model.embed_dim:
        raise InputError(
            f"{name} expects {model.embed_dim}-dim weights, the file has {dim}-dim; "
            "choose the encoder size the file was made for", path
        )
    patch = tuple(state["patch_embed.proj.weight"].shape[-2:])
    if patch != (PATCH_SIZE, PATCH_SIZE):
        raise InputError(f"has patch size {patch[0]}, DINOv2 uses {PATCH_SIZE}; expected a DINOv2 checkpoint", path)
    depth = 1 + max((int(m[1]) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))), default=-1)
    if depth != len(model.blocks):
        raise InputError(f"{name} has {len(model.blocks)} transformer blocks, the file has {depth}", path)
    try:
        # Renames official DINOv2 keys, drops mask_token and resamples pos_embed to the 16x16 grid.
        state = checkpoint_filter_fn(state, model)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as err:
        reason = str(err).strip().splitlines()
        raise InputError(f"does not fit {name}: {' '.join(reason[:3])}", path) from err


def preprocess(images: Tensor) -> Tensor:
    """``(B, 1, H, W)`` float in [0, 1] -> ``(B, 3, 224, 224)`` float32, ImageNet-normalised, for DINOv2."""
    x = F.interpolate(images.float(), size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False,
                      antialias=True)
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=x.device).view(1, 3, 1, 1)
    return (x.expand(-1, 3, -1, -1) - mean) / std


@torch.no_grad()
def encode(
    encoder: nn.Module,
    images: Tensor | np.ndarray,
    *,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    tokens: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """DINOv2 embeddings of grey images ``(N, H, W)`` or ``(N, 1, H, W)`` in [0, 1].

    Returns the CLS embeddings ``(N, D)`` float32 (not normalised) and, if ``tokens``, the patch tokens
    ``(N, 256, D)`` float16 in row-major 16x16 grid order, else ``None``; both on the CPU. ``device`` defaults to the
    encoder's. ``on_progress(done, total)`` is called after each batch.
    """
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected grey images (N, H, W) or (N, 1, H, W), got shape {tuple(x.shape)}")
    device = next(encoder.parameters()).device if device is None else torch.device(device)
    n, dim = x.shape[0], encoder.embed_dim
    cls = torch.empty(n, dim, dtype=torch.float32)
    patch = torch.empty(n, NUM_TOKENS, dim, dtype=torch.float16) if tokens else None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        out = encoder.forward_features(preprocess(x[start:stop].to(device)))
        cls[start:stop] = out[:, 0].float().cpu()
        if patch is not None:
            patch[start:stop] = out[:, encoder.num_prefix_tokens :].to(torch.float16).cpu()
        if on_progress is not None:
            on_progress(stop, n)
    return cls, patch


@dataclass
class EmbeddingBank:
    """DINOv2 embeddings of a set of slices, row ``i`` for slice ``i``."""

    cls: Tensor  # (N, D) float32, L2-normalised
    tokens: Tensor | None  # (N, 256, D) float16 patch tokens (not normalised), or None
    key: str  # cache key: content + encoder + weights
    info: EncoderInfo

    def to(self, device: str | torch.device) -> EmbeddingBank:
        tokens = None if self.tokens is None else self.tokens.to(device)
        return EmbeddingBank(self.cls.to(device), tokens, self.key, self.info)


def _bank_key(images: np.ndarray, info: EncoderInfo, tokens: bool) -> str:
    """sha256 hex of everything a bank depends on: preprocessing version, encoder, weights, token flag, pixels."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    h = hashlib.sha256()
    for part in (_BANK_VERSION, info.digest, info.name, f"tokens={tokens}", f"shape={images.shape}"):
        h.update(part.encode() + b"\0")
    h.update(memoryview(images).cast("B"))
    return h.hexdigest()


def build_bank(
    images: np.ndarray,
    encoder: nn.Module,
    info: EncoderInfo,
    *,
    cache_dir: str | os.PathLike | None = None,
    tokens: bool = False,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EmbeddingBank:
    """Embed ``images`` ``(N, H, W)`` float32 in [0, 1] once, or read the embeddings back from the cache.

    The cache file is ``cache_dir/<key>.safetensors``; on a hit the encoder does not run. A damaged or mismatching
    cache file is ignored with a warning and rebuilt. The returned bank is on the CPU.
    """
    images = np.ascontiguousarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"expected images (N, H, W), got shape {images.shape}")
    key = _bank_key(images, info, tokens)
    path = None if cache_dir is None else Path(cache_dir) / f"{key}.safetensors"
    n = len(images)
    if path is not None and path.exists():
        bank = _read_bank(path, key, info, n, tokens)
        if bank is not None:
            if on_progress is not None:
                on_progress(n, n)
            return bank
    cls, patch = encode(encoder, images, batch_size=batch_size, device=device, tokens=tokens, on_progress=on_progress)
    bank = EmbeddingBank(F.normalize(cls, dim=1), patch, key, info)
    if path is not None:
        _write_bank(path, bank)
    return bank


def _write_bank(path: Path, bank: EmbeddingBank) -> None:
    tensors = {"cls": bank.cls.contiguous()}
    if bank.tokens is not None:
        tensors["tokens"] = bank.tokens.contiguous()
    metadata = {"key": bank.key, "encoder": bank.info.name, "weights": bank.info.weights, "digest": bank.info.digest}
    try:
        atomic_write(path, lambda tmp: safetensors.torch.save_file(tensors, tmp, metadata=metadata))
    except OSError as err:  # the cache only saves time: a full or read-only disk must not stop training
        warnings.warn(f"{path}: cannot write the DINOv2 embedding cache ({err.strerror}); continuing without it",
                      stacklevel=3)


def _read_bank(path: Path, key: str, info: EncoderInfo, n: int, tokens: bool) -> EmbeddingBank | None:
    """The cached bank, or None (with a warning) if the file is damaged or does not match."""
    try:
        with safetensors.safe_open(path, framework="pt") as fh:
            stored_key = (fh.metadata() or {}).get("key")
            cls = fh.get_tensor("cls")
            patch = fh.get_tensor("tokens") if tokens else None
    except Exception as err:  # any damage to the file: it is only a cache, so rebuild it
        problem = f"unreadable ({type(err).__name__}: {err})"
    else:
        expected_tokens = (n, NUM_TOKENS, info.embed_dim)
        if stored_key != key:
            problem = "made for other images or another encoder"
        elif cls.shape != (n, info.embed_dim) or cls.dtype != torch.float32:
            problem = f"CLS embeddings have shape {tuple(cls.shape)}, expected {(n, info.embed_dim)}"
        elif patch is not None and (patch.shape != expected_tokens or patch.dtype != torch.float16):
            problem = f"patch tokens have shape {tuple(patch.shape)}, expected {expected_tokens}"
        else:
            return EmbeddingBank(cls, patch, key, info)
    warnings.warn(f"{path}: ignoring the DINOv2 embedding cache, {problem}; recomputing it", stacklevel=3)
    return None


def nearest(bank: EmbeddingBank, query_cls: Tensor) -> tuple[Tensor, Tensor]:
    """For each query embedding ``(M, D)``, the bank row with the highest cosine similarity.

    Returns indices ``(M,)`` int64 and similarities ``(M,)`` float32, on the bank's device. The M x N similarity
    matrix is computed in row chunks of at most ~256 MB.
    """
    query = F.normalize(query_cls.to(bank.cls.device, torch.float32), dim=1)
    rows = max(1, _MAX_SIMILARITY_BYTES // (4 * max(1, len(bank.cls))))
    best = [(chunk @ bank.cls.T).max(dim=1) for chunk in query.split(rows)]
    return torch.cat([b.indices for b in best]), torch.cat([b.values for b in best])


def region_pool(features: Tensor, weights: Tensor | None = None) -> Tensor:
    """Weighted spatial mean of ``features`` ``(B, C, h, w)`` -> ``(B, C)``.

    ``weights`` ``(B, 1, H, W)`` in [0, 1] at image resolution (e.g. α) are area-averaged down to ``(h, w)``;
    ``None`` is the plain mean. An all-zero weight map gives zeros, not NaN.
    """
    if weights is None:
        return features.mean(dim=(2, 3))
    w = F.adaptive_avg_pool2d(weights.to(features.dtype), features.shape[-2:])
    return (features * w).sum(dim=(2, 3)) / (w.sum(dim=(2, 3)) + 1e-6)


class Projector(nn.Module):
    """Maps the student's bottleneck ``(B, C, h, w)`` into DINOv2 space; trained with the student.

    ``mode="pooled"``: region-pooled features through an MLP; ``forward(features, weights) -> (B, D)``.
    ``mode="tokens"``: 1x1 convolutions per position, resized to the 16x16 DINOv2 grid if needed;
    ``forward(features, weights) -> (tokens (B, 256, D), token_weights (B, 256))`` where the token weights are the
    region weights area-averaged to the grid (ones if ``weights`` is None).
    """

    def __init__(self, in_channels: int = 256, embed_dim: int = 384, *, mode: str = "pooled", hidden: int = 512):
        super().__init__()
        layers = {"pooled": nn.Linear, "tokens": lambda i, o: nn.Conv2d(i, o, kernel_size=1)}
        if mode not in layers:
            raise ConfigError(f"unknown alignment mode {mode!r}; use 'pooled' or 'tokens'")
        self.mode = mode
        layer = layers[mode]
        self.net = nn.Sequential(layer(in_channels, hidden), nn.GELU(), layer(hidden, embed_dim))

    def forward(self, features: Tensor, weights: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        if self.mode == "pooled":
            return self.net(region_pool(features, weights))
        tokens = self.net(features)
        if tokens.shape[-2:] != (TOKEN_GRID, TOKEN_GRID):
            tokens = F.interpolate(tokens, size=(TOKEN_GRID, TOKEN_GRID), mode="bilinear", align_corners=False,
                                   antialias=True)
        if weights is None:
            token_weights = tokens.new_ones(tokens.shape[0], NUM_TOKENS)
        else:
            token_weights = F.adaptive_avg_pool2d(weights.to(tokens.dtype), TOKEN_GRID).flatten(1)
        return tokens.flatten(2).transpose(1, 2), token_weights


def alignment_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean of ``1 − cos(pred, target)`` over the last dimension: ``(B, D)`` or ``(B, N, D)`` -> scalar.

    ``weight`` ``(B,)`` or ``(B, N)`` makes it a weighted mean (all-zero weights give 0). ``target`` carries no
    gradient; it may be float16 (bank tokens).
    """
    distance = 1.0 - F.cosine_similarity(pred, target.detach().to(pred.dtype), dim=-1)
    if weight is None:
        return distance.mean()
    weight = weight.to(distance.dtype).reshape(weight.shape + (1,) * (distance.ndim - weight.ndim))
    weight = weight.expand_as(distance)
    return (distance * weight).sum() / (weight.sum() + 1e-6)


# --- the released "SA" term (the reference protocol) ---------------------------------------------------------------
REFERENCE_ENCODER = "vit_base_patch16_224"  # timm's ImageNet classifier, as ``load_dino_model()`` of the released code


def load_reference_encoder(
    *,
    weights_file: str | os.PathLike | None = None,
    allow_untrained: bool = False,
    download: bool = True,
    device: str | torch.device = "cpu",
    **model_kwargs,
) -> tuple[nn.Module, EncoderInfo]:
    """The released code's SA encoder: ``timm.create_model("vit_base_patch16_224", pretrained=True)``, eval mode,
    frozen, with its 1000-class ImageNet head. Weights from ``weights_file`` (a timm .safetensors / .pth state dict),
    else timm's hub download if ``download``, else a fixed-seed random initialisation if ``allow_untrained``; otherwise
    :class:`EncoderWeightsError`. ``model_kwargs`` go to ``timm.create_model`` (tests use ``depth=1``)."""
    name = REFERENCE_ENCODER
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_UNTRAINED_SEED)
        model = timm.create_model(name, pretrained=False, **model_kwargs)
    path, problem = None, "downloading is switched off"
    if weights_file is not None:
        path = Path(weights_file).expanduser().resolve()
    elif download:
        try:
            path = _fetch_pretrained(name)
        except _HubUnavailable as err:
            problem = str(err)
    if path is not None:
        try:
            model.load_state_dict(_read_state_dict(path), strict=True)
        except RuntimeError as err:
            raise InputError(f"does not fit {name}: {' '.join(str(err).split())[:300]}", path) from err
        weights = f"file:{path}" if weights_file is not None else "timm-pretrained"
        digest = _file_digest(path) if weights_file is not None else f"timm-pretrained:{name}"
    elif allow_untrained:
        weights, digest = "untrained", f"untrained-seed{_UNTRAINED_SEED}"
    else:
        raise EncoderWeightsError(f"no weights for the released SA encoder {name} ({problem}); pass "
                                  "--dinov2-weights FILE (a timm vit_base_patch16_224 .safetensors) or "
                                  "--allow-untrained-encoder (the released term sends no gradient either way)")
    digest += "".join(f";{k}={v}" for k, v in sorted(model_kwargs.items()))
    model.requires_grad_(False)
    return model.eval().to(device), EncoderInfo(name, weights, digest, model.num_classes)


def reference_sa_loss(real: Tensor, synthetic: Tensor, encoder: nn.Module) -> Tensor:
    """The released ``compute_sa_loss(real_imgs, unlabeled_imgs, feature_extractor)``, exactly.

    real (B_r, 1, H, W), synthetic (B_s, 1, H, W): the raw (unmixed) batch images. Both are resized bilinearly to the
    encoder's input size, repeated to 3 channels (no ImageNet normalisation) and put through the classifier; the
    loss is the mean over synthetic images of the minimum Euclidean distance between its logits and the real images'
    logits. Only images and a frozen encoder enter the graph, so the term sends no gradient to the segmentation
    network (the released code adds it with weight 0.1 all the same); a scalar.
    """
    size = tuple(getattr(encoder.patch_embed, "img_size", (224, 224)))
    with torch.no_grad():
        def logits(x: Tensor) -> Tensor:
            x = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False)
            return encoder(x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x)

        distances = torch.cdist(logits(synthetic), logits(real), p=2)
        return distances.min(dim=1).values.mean()
