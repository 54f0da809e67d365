"""Sync audit: the training steps of every method, run on the CPU through the code path the GPU takes, read nothing
back to the host and copy nothing between host and device, and stay within a bound on the operations they dispatch.

A host read on a GPU makes the CPU wait for the whole queue of kernels before it can launch the next one; one per
labelling pass was enough to make the eager loop host-bound. Every torch operation of a step is recorded under a
``TorchDispatchMode`` (what the device would be asked to do); the Python-level ways of reading a tensor or making one
from host data are recorded by wrapping them. Steps that emit a progress event (the one place a host read is allowed)
are outside the audit.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sra_seg_core.config import preset
from sra_seg_core.teacher import default_rounds, largest_component
from sra_seg_core.trainer import Trainer

# Operations whose result the host must wait for, or whose output size depends on tensor values (hence a read).
HOST_READS = ("aten._local_scalar_dense", "aten.equal", "aten.is_nonzero", "aten.nonzero", "aten.masked_select",
              "aten.unique", "aten._unique", "aten.repeat_interleave", "aten.masked_scatter", "aten.item")
# Tensor <-> host data: on CUDA each of these is a copy across the bus (and the reads a synchronisation).
HOST_COPIES = (("Tensor", "item"), ("Tensor", "tolist"), ("Tensor", "numpy"), ("Tensor", "cpu"),
               ("Tensor", "__bool__"), ("Tensor", "__int__"), ("Tensor", "__float__"),
               ("torch", "tensor"), ("torch", "as_tensor"), ("torch", "from_numpy"))
# dispatched operations per iteration on this tiny configuration (CPU trace, SGD's per-parameter CPU loop
# included); the recorded counts are about 20 % below these bounds
OPS_BOUND = {"supervised": 1400, "mean-teacher": 1400, "bcp": 3000, "sra-seg-nosa": 2800, "sra-seg": 3600}


class Recorder(TorchDispatchMode):
    """Every dispatched operation, per iteration segment (a new segment starts at each step call)."""

    def __init__(self):
        super().__init__()
        self.segments: list[list[str]] = []
        self.bad: list[list[str]] = []
        self.active = False

    def start(self) -> None:
        self.__enter__()
        self.active = True

    def stop(self) -> None:
        self.active = False
        self.__exit__(None, None, None)

    def new_segment(self) -> None:
        self.segments.append([])
        self.bad.append([])

    def note(self, what: str) -> None:
        if self.active and self.bad:
            self.bad[-1].append(what)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket) if hasattr(func, "overloadpacket") else str(func)
        name = name if name.startswith("aten.") else f"aten.{name}"
        if self.segments:
            self.segments[-1].append(name)
            if name.startswith(HOST_READS):
                self.note(name)
            if name in ("aten.index", "aten.index_put", "aten.index_put_") and any(
                    isinstance(t, torch.Tensor) and t.dtype == torch.bool for t in _flat(args)):
                self.note(f"{name} with a boolean mask (a nonzero inside)")
        return func(*args, **(kwargs or {}))


def _flat(args):
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from _flat(a)
        else:
            yield a


@contextlib.contextmanager
def host_access_recorded(recorder: Recorder, monkeypatch):
    for owner_name, attr in HOST_COPIES:
        owner = torch.Tensor if owner_name == "Tensor" else torch
        original = getattr(owner, attr)

        def wrapped(*args, _original=original, _what=f"{owner_name}.{attr}", **kwargs):
            recorder.note(_what)
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, attr, wrapped)
    yield


def audit(phantoms, tmp_path, monkeypatch, method: str, sets: dict, iterations: int = 3) -> Recorder:
    c = preset("tiny")
    c.data.root, c.data.synthetic = str(phantoms / "real"), str(phantoms / "synthetic")
    c.train.method = method
    c.alignment.allow_untrained, c.alignment.download = True, False
    c.alignment.cache_dir = str(phantoms / "cache")
    c.train.pretrain_iters, c.train.selftrain_iters = (iterations, 0) if method == "supervised" else (1, iterations)
    c.train.log_every = c.train.validate_every = c.train.checkpoint_every = 1000  # only the last iteration logs
    c.train.num_threads = 2
    for key, value in sets.items():
        c.set(key, value)
    trainer = Trainer(c, tmp_path / "run")
    recorder = Recorder()
    audited_stage = "pretrain" if method == "supervised" else "selftrain"
    setup = trainer._setup_device

    def setup_for_the_gpu_path():
        setup()
        trainer.sync_free = True  # the CUDA path: fixed-round device labelling, no host read

    def start_segment(original):
        def step(*args):
            if not recorder.segments:
                recorder.start()
            recorder.new_segment()
            return original(*args)
        return step

    emit_progress = trainer._emit_progress

    def progress(stage, *args):
        if recorder.active and stage == audited_stage:  # the logging iteration: the audit ends before it logs
            recorder.stop()
        emit_progress(stage, *args)

    check_finite = trainer._check_finite

    def finite(stage, *args):
        # the NaN check runs only where the loop logs, validates or saves: one allowed read, like the progress event
        if recorder.active and stage == audited_stage:
            recorder.stop()
        check_finite(stage, *args)

    trainer._check_finite = finite
    trainer._setup_device = setup_for_the_gpu_path
    if method == "supervised":
        trainer._pretrain_step = start_segment(trainer._pretrain_step)
    else:
        trainer._selftrain_step = start_segment(trainer._selftrain_step)
    trainer._emit_progress = progress
    with host_access_recorded(recorder, monkeypatch):
        assert trainer.run().status == "finished"
    assert len(recorder.segments) == iterations
    return recorder


METHODS = [("supervised", {}, "supervised"), ("mean-teacher", {}, "mean-teacher"), ("bcp", {}, "bcp"),
           ("sra-seg", {"alignment.enabled": False}, "sra-seg-nosa"),
           ("sra-seg", {"blend.hard": True, "alignment.enabled": False}, "sra-seg-nosa"), ("sra-seg", {}, "sra-seg")]


@pytest.mark.parametrize("method,sets,bound", METHODS, ids=[m[0] + "-" + "-".join(f"{k}={v}" for k, v in m[1].items())
                                                             for m in METHODS])
def test_training_steps_make_no_host_sync_and_no_host_copy(phantoms, tmp_path, monkeypatch, method, sets, bound):
    recorder = audit(phantoms, tmp_path, monkeypatch, method, sets)
    ops = [len(s) for s in recorder.segments]
    for i, bad in enumerate(recorder.bad):
        assert not bad, f"iteration {i} of {method} ({ops} operations): {sorted(set(bad))}"
    assert max(ops) <= OPS_BOUND[bound], f"{method}: {ops} operations per iteration"


def test_the_audit_catches_a_host_read(monkeypatch):
    # the old labelling loop asked torch.equal once per pass: the recorder must see exactly that kind of read
    recorder = Recorder()
    recorder.new_segment()
    mask = torch.from_numpy(np.eye(12, dtype=bool))[None]
    with host_access_recorded(recorder, monkeypatch):
        recorder.start()
        largest_component(mask, rounds=default_rounds(12, 12))
        clean = list(recorder.bad[-1])
        torch.equal(mask, mask)
        mask.sum().item()
        mask[mask]
        recorder.stop()
    assert clean == []
    assert any("equal" in b for b in recorder.bad[-1]) and "Tensor.item" in recorder.bad[-1]
    assert any("boolean mask" in b for b in recorder.bad[-1])
