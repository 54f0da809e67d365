"""Out of memory wherever it happens: recognised (cuBLAS, cuDNN too), the failed iteration undone before the retry,
the smaller batch kept for resume, validation retried at a smaller batch."""

from __future__ import annotations

import json

import pytest
import torch

from sra_seg_core.config import load_config_file, preset
from sra_seg_core.model import UNet
from sra_seg_core.oom import IterationSnapshot, is_out_of_memory, with_smaller_batches
from sra_seg_core.trainer import Trainer


@pytest.mark.parametrize("exc", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 GB"),
])
def test_allocation_failures_are_recognised(exc):
    assert is_out_of_memory(exc)


def test_other_errors_are_not_out_of_memory():
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only runtime errors carry allocator failures


def test_snapshot_undoes_batchnorm_statistics_weights_and_new_momentum():
    torch.manual_seed(0)
    model = UNet(1, 2, channels=(2, 4, 4, 4, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    snapshot = IterationSnapshot([model], [opt])
    snapshot.take()
    model(torch.rand(2, 1, 32, 32))[0].sum().backward()   # BN statistics move
    opt.step()                                             # weights move, momentum appears
    snapshot.restore()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not opt.state  # the first step's momentum is gone: the retry is a first step again


def test_smaller_batches_until_it_fits():
    calls = []

    def work(batch):
        calls.append(batch)
        if batch > 3:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return batch

    assert with_smaller_batches(work, 16, torch.device("cpu")) == 2
    assert calls == [16, 8, 4, 2]


def tiny(phantoms, **sets):
    c = preset("tiny")
    c.data.root, c.data.synthetic = str(phantoms / "real"), str(phantoms / "synthetic")
    c.train.method = "supervised"
    c.train.pretrain_iters, c.train.selftrain_iters = 2, 1
    c.train.num_threads = 2
    for key, value in sets.items():
        c.set(key, value)
    return c


def weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["model"]


def test_a_retried_iteration_leaves_no_trace_of_the_failed_one(phantoms, tmp_path, monkeypatch):
    # The first iteration at batch 8 runs its forward (BatchNorm statistics move), its backward and its SGD step,
    # then fails: the run must end exactly where a run at batch 4 from the start ends.
    Trainer(tiny(phantoms, **{"train.batch_size": 4}), tmp_path / "straight").run()
    real_step, failed = torch.optim.SGD.step, []

    def step_then_fail(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        if not failed:
            failed.append(1)
            raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED")
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", step_then_fail)
    trainer = Trainer(tiny(phantoms, **{"train.batch_size": 8}), tmp_path / "retried")
    assert trainer.run().status == "finished" and failed
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "retried")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_smaller_batch_is_what_a_resume_continues_with(phantoms, tmp_path):
    config = tiny(phantoms, **{"train.batch_size": 8})
    trainer = Trainer(config, tmp_path / "run")
    real_step, failed = trainer._pretrain_step, []

    def step(*args):
        if not failed:
            failed.append(1)
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_step(*args)

    trainer._pretrain_step = step
    trainer._external_emit = lambda e: (e.event == "progress" and e.iteration == 1) and trainer.request_stop()
    assert trainer.run().status == "stopped"
    assert load_config_file(tmp_path / "run" / "config.yaml").train.batch_size == 4
    resumed = Trainer(config, tmp_path / "run")
    assert resumed.run(resume=True).status == "finished"
    assert resumed.config.train.batch_size == 4
    assert json.loads((tmp_path / "run" / "run.json").read_text())["batch_size_reduced_to"] == 4


def test_validation_out_of_memory_retries_with_fewer_slices(phantoms, tmp_path, monkeypatch):
    from sra_seg_core.validation import DeviceValidation

    real, sizes = DeviceValidation._classes, []

    def classes(self, model, batch_size, autocast):
        sizes.append(batch_size)
        if batch_size > 4:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real(self, model, batch_size, autocast)

    monkeypatch.setattr(DeviceValidation, "_classes", classes)
    events = []
    result = Trainer(tiny(phantoms), tmp_path / "run", emit=events.append).run()
    assert result.status == "finished"
    assert sizes[:3] == [16, 8, 4] and set(sizes[3:]) == {4}   # later validations start at the size that fitted
    assert any(e.event == "warning" and "validation" in e.message for e in events)
