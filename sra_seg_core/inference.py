"""Running a trained model on whole volumes, slice by slice as the released evaluation (``test_single_volume``) does.

Each slice is min-max normalised with its volume, resized to the training size, predicted, and the class map resized
back to the slice's own size. How it is resized is the run's protocol (:mod:`sra_seg_core.protocol`, read from the
checkpoint's config): ``reference`` an order-0 ``scipy.ndimage.zoom`` both ways, exactly as the released code;
``studio`` (ours) bilinear down, nearest (``nearest-exact``) back. Slices go through the network in batches, on the
device.
Checkpoints hold only tensors and plain values and are loaded with ``torch.load(weights_only=True)``: a checkpoint
from elsewhere cannot run code.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sra_seg_core.errors import InputError
from sra_seg_core.model import UNet


@dataclass
class LoadedModel:
    """A network ready for inference plus what it needs to know about its inputs."""

    model: UNet
    num_classes: int
    image_size: int
    class_names: list[str] = field(default_factory=list)
    grey: str = "luminance"
    meta: dict = field(default_factory=dict)   # method, stage, iteration, dice, encoder status, …
    config: dict = field(default_factory=dict)  # the run's resolved config (data layout, split seed, …)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def resize(self) -> str:
        """``bilinear`` or ``zoom0``: how the run that made this model resized its slices."""
        from sra_seg_core.protocol import config_choices

        return config_choices(self.config).resize


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> the first CUDA device if there is one, else the CPU; ``cuda`` without a GPU is a clear error."""
    if name in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from sra_seg_core.config import DEVICE_FORMS, DEVICE_PATTERN, check_value

    device = torch.device(check_value("--device", name, pattern=DEVICE_PATTERN, means=DEVICE_FORMS))
    if device.type == "cuda":
        if not torch.cuda.is_available():
            from sra_seg_core.errors import ConfigError

            raise ConfigError(f"device '{name}' asked for, but no CUDA GPU is available; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            from sra_seg_core.errors import ConfigError

            raise ConfigError(f"device '{name}' asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    return device


def load_failure(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in one line. For a file that would run code, torch's own
    text explains how to load it unsafely — the one thing not to do with a file from elsewhere — so it is not shown."""
    if isinstance(exc, pickle.UnpicklingError):
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f"calls {refused.group(1)}" if refused else "holds more than tensors and plain values"
        return f"it {what}, which weights never do, so it was not loaded"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text if len(text) <= 120 else text[:117] + '...'}"


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The contents of a checkpoint file as saved, with ``weights_only=True``: tensors and plain values only, so a
    file from elsewhere cannot run code. InputError when it is missing, damaged, holds anything else, or is no dict."""
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types; all mean "not a usable checkpoint"
        raise InputError(f"not a readable SRA-Seg checkpoint ({load_failure(exc)})", path) from None
    if not isinstance(state, dict):
        raise InputError(f"not an SRA-Seg checkpoint (it holds a {type(state).__name__}, not a dict)", path)
    return state


def load_checkpoint(path: str | Path, device: str | torch.device = "auto") -> LoadedModel:
    """Load ``best.pt`` / ``latest.pt`` (or any checkpoint the trainer wrote) for inference."""
    path = Path(path)
    device = resolve_device(device) if isinstance(device, str) else device
    from sra_seg_core.checkpoints import check_model_checkpoint

    state = check_model_checkpoint(read_checkpoint(path), path)  # every field, before the network is allocated
    mc = state["model_config"]
    model = UNet(mc["in_channels"], state["num_classes"], tuple(mc["channels"]), tuple(mc["dropout"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise InputError(f"checkpoint weights do not match its model description: {str(exc)[:200]}", path) from None
    model.to(device).eval()
    return LoadedModel(model, int(state["num_classes"]), int(state["image_size"]), list(state.get("class_names", [])),
                       state.get("grey", "luminance"), dict(state.get("meta", {})), dict(state.get("config", {})),
                       device)


@torch.no_grad()
def predict_probabilities(model: torch.nn.Module, volume: np.ndarray, *, size: int, device: torch.device,
                          batch_size: int = 16, tta: bool = False, autocast: bool = False,
                          resize: str = "bilinear") -> torch.Tensor:
    """Softmax probabilities at the training size: (Z, K, size, size) float32 on ``device``.

    volume: (Z, Y, X) float32, already normalised to [0, 1]. ``tta`` averages the identity and the two flips.
    ``resize``: ``bilinear`` (studio) or ``zoom0`` (reference: order-0 scipy zoom of each slice, on the CPU).
    """
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, volume.shape[0], batch_size):
            if resize == "zoom0":
                from sra_seg_core.datasets.slices import resize_slices

                zoomed = resize_slices(np.asarray(volume[start:start + batch_size], np.float32), size, "zoom0")
                x = torch.from_numpy(zoomed)[:, None].to(device)
            else:
                chunk = torch.from_numpy(np.ascontiguousarray(volume[start:start + batch_size]))[:, None].to(device)
                x = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False)
            flips = ((), (-1,), (-2,)) if tta else ((),)
            probs = 0
            for dims in flips:
                xi = x.flip(dims) if dims else x
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    logits = model(xi)[0]
                p = logits.float().softmax(dim=1)
                probs = probs + (p.flip(dims) if dims else p)
            out.append(probs / len(flips))
    finally:
        model.train(was_training)
    return torch.cat(out)


def labels_to_native(probs: torch.Tensor, shape_yx: tuple[int, int], resize: str = "bilinear") -> np.ndarray:
    """Argmax at the training size, then back to (Y, X): (Z, Y, X) uint8. ``resize`` ``bilinear`` (studio): PyTorch's
    ``nearest-exact``; ``zoom0`` (reference): ``scipy.ndimage.zoom(order=0)``, as the released code."""
    hard = probs.argmax(dim=1, keepdim=True)
    if resize == "zoom0":
        from sra_seg_core.datasets.slices import resize_slices

        return resize_slices(hard[:, 0].to(torch.uint8).cpu().numpy(), tuple(shape_yx), "zoom0")
    native = F.interpolate(hard.float(), size=shape_yx, mode="nearest-exact")
    return native[:, 0].to(torch.uint8).cpu().numpy()


def predict_volume(model: torch.nn.Module, volume: np.ndarray, *, size: int, device: torch.device,
                   batch_size: int = 16, tta: bool = False, autocast: bool = False,
                   resize: str = "bilinear") -> np.ndarray:
    """Class map (Z, Y, X) uint8 for a normalised (Z, Y, X) float32 volume; ``resize`` as
    :func:`predict_probabilities`."""
    probs = predict_probabilities(model, volume, size=size, device=device, batch_size=batch_size, tta=tta,
                                  autocast=autocast, resize=resize)
    return labels_to_native(probs, volume.shape[1:], resize)


def predict_image(loaded: LoadedModel, image, *, tta: bool = False, batch_size: int = 16) -> np.ndarray:
    """(Z, Y, X) uint8 class map for an :class:`~sra_seg_core.image.Image` (any intensities), on the image's grid."""
    from sra_seg_core.datasets import normalise_minmax

    from sra_seg_core.protocol import config_choices

    choices = config_choices(loaded.config)
    return predict_volume(loaded.model, normalise_minmax(image.array), size=loaded.image_size, device=loaded.device,
                          batch_size=batch_size, tta=tta, resize=choices.resize,
                          autocast=loaded.device.type == "cuda" and choices.amp_allowed)
