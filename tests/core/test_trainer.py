"""The trainer, end to end on tiny phantoms: every method, checkpoints, events, exact resume, and an SA term that
actually trains the student (the published code's does not)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sra_seg_core.config import preset
from sra_seg_core.errors import ConfigError, EncoderWeightsError
from sra_seg_core.events import read_events
from sra_seg_core.trainer import Trainer


def tiny(phantoms, method="sra-seg", **sets):
    c = preset("tiny")
    c.data.root, c.data.synthetic = str(phantoms / "real"), str(phantoms / "synthetic")
    c.train.method = method
    c.alignment.allow_untrained, c.alignment.download = True, False
    c.alignment.cache_dir = str(phantoms / "cache")
    c.train.pretrain_iters, c.train.selftrain_iters = 2, 2
    c.train.num_threads = 2
    for key, value in sets.items():
        c.set(key.replace("__", "."), value)
    return c


def run(config, run_dir, **kwargs):
    events = []
    result = Trainer(config, run_dir, emit=events.append, **kwargs).run()
    return result, events


def final_weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["model"]


@pytest.mark.parametrize("method,extra", [("supervised", {}), ("mean-teacher", {}), ("bcp", {}),
                                          ("sra-seg", {"alignment__enabled": False}),
                                          ("sra-seg", {"blend__hard": True}), ("sra-seg", {})])
def test_every_method_trains_through_the_same_loop(phantoms, tmp_path, method, extra):
    result, events = run(tiny(phantoms, method, **extra), tmp_path / "run")
    assert result.status == "finished"
    assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").exists()
    kinds = [e.event for e in events]
    assert kinds[-1] == "done" and "validation" in kinds
    stages = {e.stage for e in events if e.event == "progress"}
    assert stages == ({"pretrain"} if method == "supervised" else {"pretrain", "selftrain"})


def test_progress_and_validation_events_carry_what_the_gui_plots(phantoms, tmp_path):
    _, events = run(tiny(phantoms), tmp_path / "run")
    progress = [e for e in events if e.event == "progress" and e.stage == "selftrain"]
    assert {"sup", "unsup", "sa", "total"} <= set(progress[-1].losses)
    assert progress[-1].lr == pytest.approx(0.01) and progress[-1].memory_mb > 0
    assert progress[-1].throughput > 0 and progress[-1].eta_s is not None
    validation = [e for e in events if e.event == "validation"]
    assert set(validation[-1].dice) == {"RV", "Myo", "LV"}
    assert 0 <= validation[-1].mean_dice <= 1
    # the same stream is on disk for the app and for later reading
    on_disk = read_events((tmp_path / "run" / "events.jsonl").read_text().splitlines())
    assert [e.event for e in on_disk] == [e.event for e in events]


def test_run_folder_records_config_and_metadata(phantoms, tmp_path):
    run(tiny(phantoms), tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "finished" and meta["method"] == "sra-seg"
    assert meta["encoder"] == {"name": "vit_small_patch14_dinov2", "weights": "untrained", "pretrained": False}
    assert meta["data"]["labeled_slices"] > 0 and meta["data"]["unlabeled_slices"] > 0
    assert (tmp_path / "run" / "config.yaml").read_text().startswith("data:")


def test_untrained_encoder_is_announced_as_a_warning_event(phantoms, tmp_path):
    _, events = run(tiny(phantoms), tmp_path / "run")
    assert any(e.event == "warning" and "UNTRAINED" in e.message for e in events)


def test_missing_encoder_weights_stop_before_any_training(phantoms, tmp_path):
    config = tiny(phantoms, alignment__allow_untrained=False)
    with pytest.raises(EncoderWeightsError, match="--dinov2-weights"):
        Trainer(config, tmp_path / "run").run()
    assert not list((tmp_path / "run" / "checkpoints").glob("*.pt"))


def test_runs_are_deterministic_on_the_cpu(phantoms, tmp_path):
    run(tiny(phantoms), tmp_path / "a")
    run(tiny(phantoms), tmp_path / "b")
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("stop_stage,stop_at", [("pretrain", 1), ("selftrain", 2)])
def test_stop_then_resume_continues_exactly(phantoms, tmp_path, stop_stage, stop_at):
    config = tiny(phantoms, train__pretrain_iters=3, train__selftrain_iters=3)
    run(config, tmp_path / "straight")
    trainer = Trainer(config, tmp_path / "resumed")

    def stop_when(event):
        if event.event == "progress" and event.stage == stop_stage and event.iteration == stop_at:
            trainer.request_stop()

    trainer._external_emit = stop_when
    assert trainer.run().status == "stopped"
    assert Trainer(config, tmp_path / "resumed").run(resume=True).status == "finished"
    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_may_extend_the_schedule(phantoms, tmp_path):
    run(tiny(phantoms, "supervised"), tmp_path / "run")
    longer = tiny(phantoms, "supervised", train__selftrain_iters=4)
    events = []
    Trainer(longer, tmp_path / "run", emit=events.append).run(resume=True)
    progress = [e.iteration for e in events if e.event == "progress"]
    assert progress[0] == 5 and progress[-1] == 6   # supervised: one stage of 2 + 4 iterations, 4 done before
    from sra_seg_core import runs

    assert runs.read_config(tmp_path / "run").train.selftrain_iters == 4   # the trainer keeps its own config
    assert runs.read_meta(tmp_path / "run").latest_has_teacher is False    # supervised: no teacher to offer


def _first_selftrain_losses(events):
    return next(e.losses for e in events if e.event == "progress" and e.stage == "selftrain")


def test_turning_sa_off_changes_nothing_else(phantoms, tmp_path):
    _, with_sa = run(tiny(phantoms), tmp_path / "sa")
    _, without = run(tiny(phantoms, alignment__enabled=False), tmp_path / "nosa")
    # stage 1 is identical, and so is the first stage-2 step's segmentation loss (same data, masks, pseudo-labels)
    pre = lambda evs: [e.losses for e in evs if e.event == "progress" and e.stage == "pretrain"]  # noqa: E731
    assert pre(with_sa) == pre(without)
    a, b = _first_selftrain_losses(with_sa), _first_selftrain_losses(without)
    assert (a["sup"], a["unsup"]) == (b["sup"], b["unsup"]) and "sa" in a and "sa" not in b


def test_sa_gradient_reaches_the_student_weights(phantoms, tmp_path):
    # One stage-2 step with and without the SA term from the same state: if L_SA had no gradient path into the
    # network (the published code's), the student's weights after the step would be identical.
    run(tiny(phantoms, train__selftrain_iters=1), tmp_path / "sa")
    run(tiny(phantoms, alignment__enabled=False, train__selftrain_iters=1), tmp_path / "nosa")
    a, b = final_weights(tmp_path / "sa"), final_weights(tmp_path / "nosa")
    encoder_keys = [k for k in a if k.startswith("downs.3") and k.endswith("weight")]
    assert encoder_keys and any(not torch.equal(a[k], b[k]) for k in encoder_keys)


def test_sa_loss_falls_during_training(phantoms, tmp_path):
    config = tiny(phantoms, train__pretrain_iters=1, train__selftrain_iters=40, train__log_every=5,
                  train__validate_every=1000, train__checkpoint_every=1000)
    _, events = run(config, tmp_path / "run")
    sa = [e.losses["sa"] for e in events if e.event == "progress" and e.stage == "selftrain"]
    assert len(sa) == 8 and all(math.isfinite(v) for v in sa)
    assert sa[-1] < 0.8 * sa[0]


def test_out_of_memory_halves_the_batch_and_goes_on(phantoms, tmp_path):
    config = tiny(phantoms, train__batch_size=8)
    trainer = Trainer(config, tmp_path / "run")
    real_step, failures = trainer._selftrain_step, []

    def step(*args):
        if not failures:
            failures.append(1)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(*args)

    trainer._selftrain_step = step
    events = []
    trainer._external_emit = events.append
    assert trainer.run().status == "finished"
    warning = next(e for e in events if e.event == "warning" and "memory" in e.message)
    assert "batch size 8" in warning.message and "batch size 4" in warning.message
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["batch_size_reduced_to"] == 4


def test_out_of_memory_at_the_smallest_batch_explains_what_to_do(phantoms, tmp_path):
    trainer = Trainer(tiny(phantoms), tmp_path / "run")   # batch 4 = 2 + 2: nothing left to halve

    def step(*args):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 GB")

    trainer._pretrain_step = step
    with pytest.raises(ConfigError, match="image_size"):
        trainer.run()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
