"""What a checkpoint must hold before anything uses it: the schema check of every reader.

``torch.load(weights_only=True)`` keeps a file from running code, but it accepts any dict of tensors and plain values.
A file with a missing or mistyped field would fail deep inside predict, evaluate, resume or suggest (KeyError,
TypeError, IndexError), and one whose model description says a million channels would have the U-Net allocate
terabytes before its weights are compared. So every field is checked here first, and the network's parameter shapes
are worked out on PyTorch's ``meta`` device (no memory) and compared with the file's tensors, which are already in
memory; only then is the real network built. Weights with NaN or infinite values (a run that diverged) are refused,
since they would give empty masks without a word. Each problem is one InputError naming the file and the field.

Sizes follow the config's own rules (:mod:`sra_seg_core.config`): a checkpoint can only describe a model that a run
could have been configured to train.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sra_seg_core.config import DataConfig, ModelConfig, allowed
from sra_seg_core.errors import InputError

FORMAT = "sra-seg-checkpoint"
STAGES = ("pretrain", "selftrain")


def _fail(path, message: str) -> InputError:
    return InputError(f"not a usable SRA-Seg checkpoint: {message}", path)


def _field(state: dict, key: str, kinds, path, where: str = ""):
    name = f"{where}{key}"
    if key not in state:
        raise _fail(path, f"it has no '{name}' field")
    value, kinds = state[key], kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # True is an int to Python
        expected = " or ".join(k.__name__ for k in kinds)
        raise _fail(path, f"its '{name}' field is a {type(value).__name__}, not of type {expected}")
    return value


def _ruled(section, key: str, value, path, name: str):
    refusal = allowed(section, key).refusal(name, tuple(value) if isinstance(value, list) else value)
    if refusal:
        raise _fail(path, refusal)
    return value


def _weights(state: dict, key: str, path) -> dict[str, torch.Tensor]:
    weights = _field(state, key, dict, path)
    for name, tensor in weights.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise _fail(path, f"'{key}' must map parameter names to tensors; {name!r} holds a {type(tensor).__name__}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise _fail(path, f"the weights '{key}.{name}' hold NaN or infinite values (the run that wrote it "
                              "diverged); use an earlier checkpoint or train again with a lower optim.lr")
    return weights


def _expected_shapes(in_channels: int, num_classes: int, channels, dropout) -> dict[str, torch.Size]:
    """Parameter and buffer shapes of the U-Net so described, computed without allocating it (``meta`` device)."""
    from sra_seg_core.model import UNet

    with torch.device("meta"):
        model = UNet(in_channels, num_classes, tuple(channels), tuple(dropout))
    return {name: value.shape for name, value in model.state_dict().items()}


def _matches(weights: dict[str, torch.Tensor], shapes: dict[str, torch.Size], key: str, path) -> None:
    missing = [name for name in shapes if name not in weights]
    extra = [name for name in weights if name not in shapes]
    if missing or extra:
        what = f"lacks '{missing[0]}'" if missing else f"has '{extra[0]}', which the network does not"
        raise _fail(path, f"'{key}' does not fit the network its model_config describes: it {what} "
                          f"({len(missing)} missing, {len(extra)} unexpected)")
    for name, shape in shapes.items():
        if weights[name].shape != shape:
            raise _fail(path, f"'{key}.{name}' has shape {tuple(weights[name].shape)}, but the network its "
                              f"model_config describes needs {tuple(shape)}")


def check_model_checkpoint(state: dict, path: str | Path) -> dict:
    """The fields inference needs (``model``, ``model_config``, ``num_classes``, ``image_size`` and the optional
    ``class_names``, ``grey``, ``meta``, ``config``, ``teacher``): present, of their types, within the config's
    ranges, weights finite and of the shapes the description gives. Returns ``state``; InputError otherwise."""
    mc = _field(state, "model_config", dict, path)
    in_channels = _ruled(ModelConfig, "in_channels", _field(mc, "in_channels", int, path, "model_config."), path,
                         "model_config.in_channels")
    channels = _field(mc, "channels", (list, tuple), path, "model_config.")
    dropout = _field(mc, "dropout", (list, tuple), path, "model_config.")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in channels):
        raise _fail(path, f"model_config.channels must be whole numbers, not {channels!r}"[:200])
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in dropout):
        raise _fail(path, f"model_config.dropout must be numbers, not {dropout!r}"[:200])
    _ruled(ModelConfig, "channels", channels, path, "model_config.channels")
    _ruled(ModelConfig, "dropout", tuple(float(p) for p in dropout), path, "model_config.dropout")
    num_classes = _ruled(DataConfig, "num_classes", _field(state, "num_classes", int, path), path, "num_classes")
    _ruled(DataConfig, "image_size", _field(state, "image_size", int, path), path, "image_size")
    if "class_names" in state:
        names = _field(state, "class_names", (list, tuple), path)
        if not all(isinstance(n, str) for n in names):
            raise _fail(path, "class_names must be a list of texts")
    if "grey" in state:
        _ruled(DataConfig, "grey", _field(state, "grey", str, path), path, "grey")
    for key in ("meta", "config"):
        if key in state:
            _field(state, key, dict, path)
    shapes = _expected_shapes(in_channels, num_classes, channels, dropout)
    _matches(_weights(state, "model", path), shapes, "model", path)
    if "teacher" in state:
        _matches(_weights(state, "teacher", path), shapes, "teacher", path)
    return state


def check_resumable(state: dict, path: str | Path) -> dict:
    """:func:`check_model_checkpoint` plus what ``train --resume`` needs from ``latest.pt``: the format tag, stage,
    iteration, best scores, optimizer state and random-generator state. Returns ``state``; InputError otherwise."""
    if state.get("format") != FORMAT:
        raise _fail(path, f"it is not a resumable training checkpoint (format {state.get('format')!r}, not {FORMAT})")
    check_model_checkpoint(state, path)
    stage = _field(state, "stage", str, path)
    if stage not in STAGES:
        raise _fail(path, f"stage must be one of {', '.join(STAGES)}, not {stage!r}"[:200])
    iteration = _field(state, "iteration", int, path)
    if iteration < 0:
        raise _fail(path, f"iteration must be >= 0, not {iteration}")
    best = _field(state, "best", dict, path)
    if not all(isinstance(best.get(s), (int, float)) and not isinstance(best.get(s), bool) for s in STAGES):
        raise _fail(path, "best must give a number for each stage (pretrain, selftrain)")
    _field(state, "optimizer", dict, path)
    rng = _field(state, "torch_rng", torch.Tensor, path)
    if rng.dtype != torch.uint8 or rng.dim() != 1:
        raise _fail(path, f"torch_rng must be a 1-D uint8 tensor, not {rng.dim()}-D {rng.dtype}")
    for key in ("projector", "projector_optimizer"):
        if key in state:
            _field(state, key, dict, path)
    return state
