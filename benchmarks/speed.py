"""Training and inference speed of the engine, measured through the trainer's own code paths.

Builds in-memory cardiac phantoms (real-style labelled slices, synthetic-style unlabelled slices, one ACDC-sized
validation volume), then:

* trains with :class:`~sra_seg_core.trainer.Trainer` at the paper's batch (24 = 12 labelled + 12 synthetic, 256²):
  stage 1, stage 2 without SA and stage 2 with SA, timing every iteration from the trainer's own progress events
  (the first iteration of each stage is a warm-up and left out); the SA overhead is the ratio of the two stage-2
  medians;
* times the U-Net step (the trainer's ``_forward`` + soft Dice/CE + backward + SGD step on a batch of 256² slices),
  counts its FLOPs with ``torch.utils.flop_counter.FlopCounterMode`` and sets the achieved FLOP/s next to a dense
  2048² matmul in the same dtype measured in the same run, before and after (the machine's practical limit);
* times inference (``predict_volume``) on an ACDC-sized volume, the DINOv2 bank build (from the trainer's event, a
  fresh cache), validation, and ``case_metrics`` on one volume;
* reads the peak memory of each phase (CUDA: ``max_memory_allocated``; CPU: the process's peak resident set, reset
  between phases through ``/proc/self/clear_refs`` on Linux).

The machine's load average is recorded before and after: on a shared machine, compare figures only at similar load.

* on CUDA, trains the same stages again with ``train.cuda_graphs`` on (``--graphs``) and projects the minutes of the
  full ACDC schedule (10 000 + 50 000 iterations, validation of the 20 validation volumes every 200 iterations) from
  the faster of the two.

    python benchmarks/speed.py [--quick] [--device auto|cpu|cuda] [--json OUT] [--iters N] [--set train.compile=true]
                               [--graphs auto|on|off]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from sra_seg_core.blend import one_hot
from sra_seg_core.config import RunConfig
from sra_seg_core.datasets import normalise_minmax, resize_slices
from sra_seg_core.inference import predict_volume, resolve_device
from sra_seg_core.losses import soft_seg_loss
from sra_seg_core.metrics import case_metrics
from sra_seg_core.phantoms import cardiac_case
from sra_seg_core.trainer import Trainer, TrainData, ValVolume

CLASS_NAMES = ["background", "RV", "Myo", "LV"]
ACDC_VOLUME = (10, 216, 256)  # a typical ACDC cine frame: 10 short-axis slices of 216 x 256


# --- measuring ---------------------------------------------------------------------------------------------------
class PeakMemory:
    """Peak memory of a phase in MiB: CUDA allocator peak, or the process's peak RSS (VmHWM) on the CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.resettable = device.type == "cuda" or Path("/proc/self/clear_refs").exists()

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.resettable:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # "5" resets the peak RSS (Linux >= 4.0)
            except OSError:
                self.resettable = False

    def read(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        status = Path("/proc/self/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` (after one untimed warm-up call)."""
    fn()
    seconds = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def matmul_flops(device: torch.device, dtype: torch.dtype, n: int, repeats: int) -> float:
    """FLOP/s of a dense n x n matmul (2 n³ FLOP), median of ``repeats``."""
    g = torch.Generator(device).manual_seed(0)
    a = torch.randn(n, n, generator=g, device=device).to(dtype)
    b = torch.randn(n, n, generator=g, device=device).to(dtype)
    return 2 * n**3 / statistics.median(timed(lambda: a @ b, device, repeats))


def load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


# --- data ---------------------------------------------------------------------------------------------------------
def phantom_data(device: torch.device, size: int, real_cases: int, synthetic_cases: int) -> tuple[TrainData, dict]:
    """In-memory training data prepared as ``prepare_data`` does it (per-volume min-max, slices resized to size²)."""
    def slices(seed: int, style: str):
        image, label = cardiac_case(seed, style=style)
        return (resize_slices(normalise_minmax(image.array), size, "linear"),
                resize_slices(label.array, size, "nearest"))

    real = [slices(seed, "real") for seed in range(1, real_cases + 1)]
    synthetic = [slices(seed, "synthetic")[0] for seed in range(101, 101 + synthetic_cases)]
    image, label = cardiac_case(1000, shape=ACDC_VOLUME)
    val = ValVolume("val", normalise_minmax(image.array), label.array.astype(np.uint8))
    data = TrainData(
        labeled_images=torch.from_numpy(np.concatenate([r[0] for r in real]))[:, None].to(device),
        labeled_labels=torch.from_numpy(np.concatenate([r[1] for r in real])).long().to(device),
        unlabeled_images=torch.from_numpy(np.concatenate(synthetic))[:, None].to(device),
        val=[val], num_classes=len(CLASS_NAMES), class_names=CLASS_NAMES,
    )
    return data, {"spacing_zyx": image.spacing_zyx}


# --- training -----------------------------------------------------------------------------------------------------
def train_config(args, device: torch.device, *, pretrain: int, selftrain: int, sa: bool, cache: Path,
                 graphs: bool = False) -> RunConfig:
    c = RunConfig()
    c.data.image_size = args.size
    c.train.batch_size = args.batch
    c.train.device = str(device)
    c.train.pretrain_iters, c.train.selftrain_iters = pretrain, selftrain
    c.train.log_every = 1
    c.train.validate_every = c.train.checkpoint_every = 10**9  # only at the end of a stage, outside the timing
    c.alignment.enabled = sa
    c.alignment.allow_untrained, c.alignment.download = True, False  # same compute as the pretrained encoder
    c.alignment.cache_dir = str(cache)
    c.train.cuda_graphs = graphs
    for item in args.set:
        key, _, value = item.partition("=")
        c.set(key, value)
    return c


def run_training(config: RunConfig, data: TrainData, run_dir: Path, peak: PeakMemory,
                 init: Path | None = None) -> tuple[Trainer, dict]:
    """Run the trainer; per stage: wall and CPU seconds of every iteration (from its progress events), peak memory,
    the end-of-stage validation's seconds; and the DINOv2 bank build. ``init``: a ``pretrain_best.pt`` for stage 2
    to start from, so that two stage-2 runs see the same weights, pseudo-labels and batches."""
    stages: dict[str, dict] = {}
    bank: dict = {}
    clock = {}

    def on_event(event) -> None:
        now = time.process_time()
        if event.event == "stage" and event.stage and event.total is not None:  # a stage's loop starts
            peak.reset()
            stages[event.stage] = {"seconds": [], "cpu_seconds": [], "peak_mb": 0.0}
        elif event.event == "stage" and event.message == "DINOv2 banks ready":
            bank.update(event.extra)
        elif event.event == "progress":
            stage = stages[event.stage]
            stage["seconds"].append(1.0 / event.throughput)
            stage["cpu_seconds"].append(now - clock.get("cpu", now))
            stage["peak_mb"] = max(stage["peak_mb"], peak.read())
            clock["progress"] = event.time
        elif event.event == "validation":
            stages[event.stage]["validation_s"] = event.time - clock["progress"]
        clock["cpu"] = time.process_time()

    if init is not None:
        (run_dir / "checkpoints").mkdir(parents=True)
        shutil.copyfile(init, run_dir / "checkpoints" / "pretrain_best.pt")
    trainer = Trainer(config, run_dir, emit=on_event, data=data)
    trainer.run()
    for stage in stages.values():
        if not stage["seconds"]:  # a stage of 0 iterations
            continue
        wall, cpu = stage["seconds"][1:], stage["cpu_seconds"][1:]  # the first iteration is the warm-up
        stage.update(first_s=stage["seconds"][0], median_s=statistics.median(wall),
                     median_cpu_s=statistics.median(cpu), iterations_per_s=1.0 / statistics.median(wall))
    return trainer, {"stages": stages, "bank": bank}


def count_flops(trainer: Trainer, x: torch.Tensor, *, backward: bool) -> int:
    """FLOPs of the student on ``x`` (forward, or forward + backward), counted on the plain module (a compiled one
    runs the same operations)."""
    with FlopCounterMode(display=False) as counter, torch.set_grad_enabled(backward):
        with torch.autocast(trainer.device.type, dtype=torch.bfloat16, enabled=trainer.autocast):
            logits, _ = trainer.student(trainer._layout(x))
        if backward:
            logits.float().sum().backward()
    trainer.student.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def unet_step(trainer: Trainer, batch: int, repeats: int, peak: PeakMemory) -> dict:
    """The U-Net training step of the trainer: ``_forward`` + soft Dice/CE + backward + SGD step on ``batch`` slices."""
    data, device = trainer.data, trainer.device
    rows = torch.arange(batch, device=device) % len(data.labeled_images)
    x, y = data.labeled_images[rows], one_hot(data.labeled_labels[rows], data.num_classes)
    trainer.student.train()
    flops = count_flops(trainer, x, backward=True)

    def step():
        trainer.optimizer.zero_grad(set_to_none=True)
        with trainer._autocast():
            logits, _ = trainer._forward(trainer.student, x)
            loss, _ = soft_seg_loss(logits, y)
        loss.backward()
        trainer.optimizer.step()

    peak.reset()
    seconds = timed(step, device, repeats)
    return {"batch": batch, "flops": flops, "seconds": seconds, "median_s": statistics.median(seconds),
            "flops_per_s": flops / statistics.median(seconds), "peak_mb": peak.read()}


# --- inference, metrics -------------------------------------------------------------------------------------------
def inference(trainer: Trainer, volume: np.ndarray, repeats: int, peak: PeakMemory) -> dict:
    kwargs = dict(size=trainer.config.data.image_size, device=trainer.device, autocast=trainer.autocast)
    peak.reset()
    seconds = timed(lambda: predict_volume(trainer.student, volume, **kwargs), trainer.device, repeats)
    median = statistics.median(seconds)
    return {"shape": list(volume.shape), "seconds": seconds, "volume_ms": median * 1e3,
            "slices_per_s": volume.shape[0] / median, "peak_mb": peak.read()}


def metrics_time(label: np.ndarray, spacing, repeats: int, peak: PeakMemory) -> dict:
    """case_metrics (Dice, Jaccard, HD95, ASD for RV/Myo/LV) of a prediction off by a few voxels."""
    prediction = np.roll(label, (2, -3), axis=(1, 2))
    peak.reset()
    seconds = timed(lambda: case_metrics(prediction, label, (1, 2, 3), spacing), torch.device("cpu"), repeats)
    return {"shape": list(label.shape), "seconds": seconds, "volume_ms": statistics.median(seconds) * 1e3,
            "peak_mb": peak.read()}


# --- report -------------------------------------------------------------------------------------------------------
ACDC_SCHEDULE = {"stage1_iters": 10_000, "stage2_iters": 50_000, "validate_every": 200, "val_volumes": 20}


def project_schedule(eager: dict, graphed: dict | None, validation_s: float) -> dict:
    """Minutes of the paper's ACDC schedule from the measured medians (stage 2 with SA; each validation of one
    ACDC-sized volume scaled to the split's 20 volumes), eager and, if measured, with CUDA graphs."""
    s = ACDC_SCHEDULE
    validations = (s["stage1_iters"] + s["stage2_iters"]) // s["validate_every"]
    val_minutes = validations * s["val_volumes"] * validation_s / 60

    def minutes(t: dict) -> float:
        return (s["stage1_iters"] * t["stage1"]["median_s"] + s["stage2_iters"] * t["stage2_sa"]["median_s"]) / 60 \
            + val_minutes

    out = dict(s, validations=validations, validation_minutes=val_minutes, eager_minutes=minutes(eager))
    if graphed:
        out["graphs_minutes"] = minutes(graphed)
    return out


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads"


def print_table(r: dict) -> None:
    env, t = r["environment"], r["training"]
    print(f"SRA-Seg speed on {env['device']} ({env['device_name']}), torch {env['torch']}, "
          f"batch {r['batch']} x {r['size']}², {'quick' if r['quick'] else 'full'} run; load average "
          f"{env['load_before']} -> {env['load_after']}")
    rows = [("phase", "figure", "", "peak MiB")]
    for key, name in (("stage1", "stage 1 (soft-blend pre-training)"), ("stage2", "stage 2 without SA"),
                      ("stage2_sa", "stage 2 with SA")):
        s = t[key]
        rows.append((name, f"{s['iterations_per_s']:.3f} it/s", f"{s['median_s']:.2f} s/it (CPU "
                     f"{s['median_cpu_s']:.2f} s), {s['flops_per_s'] / 1e9:.1f} GFLOP/s; first {s['first_s']:.2f} s, "
                     f"n={s['timed']}", f"{s['peak_mb']:.0f}"))
    rows.append(("SA overhead", f"{t['sa_overhead_pct']:+.1f} %", "stage 2 with SA vs without", ""))
    for key, name in (("stage1", "stage 1, CUDA graphs"), ("stage2", "stage 2 without SA, CUDA graphs"),
                      ("stage2_sa", "stage 2 with SA, CUDA graphs")):
        if t.get("graphs"):
            s = t["graphs"][key]
            rows.append((name, f"{s['iterations_per_s']:.3f} it/s", f"{s['median_s']:.3f} s/it; first "
                         f"{s['first_s']:.2f} s", f"{s['peak_mb']:.0f}"))
    a = t["acdc_schedule"]
    rows.append(("full ACDC schedule", f"{a['eager_minutes']:.1f} min", f"eager; 10k + 50k it, {a['validations']} "
                 f"validations x 20 volumes = {a['validation_minutes']:.1f} min"
                 + (f"; CUDA graphs {a['graphs_minutes']:.1f} min" if "graphs_minutes" in a else ""), ""))
    u = r["unet_step"]
    rows.append((f"U-Net step ({u['batch']}x1x{r['size']}²)", f"{u['flops_per_s'] / 1e9:.1f} GFLOP/s",
                 f"{u['flops'] / 1e9:.1f} GFLOP in {u['median_s']:.3f} s = {u['matmul_fraction_pct']:.0f} % of "
                 f"matmul", f"{u['peak_mb']:.0f}"))
    m = r["matmul"]
    rows.append((f"dense matmul {m['n']}² {m['dtype']}", f"{m['flops_per_s'] / 1e9:.1f} GFLOP/s",
                 "before / after: " + " / ".join(f"{v / 1e9:.1f}" for v in m["runs"]), ""))
    i = r["inference"]
    rows.append(("inference", f"{i['slices_per_s']:.1f} slices/s",
                 f"{'x'.join(map(str, i['shape']))} volume in {i['volume_ms']:.0f} ms", f"{i['peak_mb']:.0f}"))
    b = t["bank"]
    rows.append(("DINOv2 bank build", f"{b['ms_per_slice']:.1f} ms/slice",
                 f"{b['slices']} slices in {b['seconds']:.2f} s, cache empty", ""))
    v = r["validation"]
    rows.append(("validation", f"{v['per_volume_s']:.2f} s/volume", "predict + Dice (every 200 iterations)", ""))
    mt = r["metrics"]
    rows.append(("metrics", f"{mt['volume_ms']:.0f} ms/volume",
                 f"case_metrics, 3 classes, {'x'.join(map(str, mt['shape']))}", f"{mt['peak_mb']:.0f}"))
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) if k != 3 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths))))
    if env["device"] == "cpu" and not env["peak_memory_per_phase"]:
        print("(peak MiB is the whole process's peak: this system cannot reset it between phases)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats (under 2 minutes)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:k")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--iters", type=int, help="iterations per training stage, the first a warm-up")
    parser.add_argument("--batch", type=int, default=24, help="training batch (half labelled, half synthetic)")
    parser.add_argument("--size", type=int, default=256, help="slice size")
    parser.add_argument("--unet-batch", type=int, help="batch of the U-Net step (default: the training batch; "
                        "--quick on the CPU: a quarter of it, what one stage-2 forward pass sees)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a training config override, e.g. train.compile=true or train.channels_last=off")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--graphs", choices=("auto", "on", "off"), default="auto",
                        help="also train with train.cuda_graphs on (auto: on CUDA only)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
        args.set.append(f"train.num_threads={args.threads}")
    gpu = device.type == "cuda"
    iters = args.iters or {(True, False): 2, (False, False): 4, (True, True): 10, (False, True): 40}[(args.quick, gpu)]
    if iters < 2:
        parser.error("--iters must be at least 2 (the first iteration of a stage is a warm-up)")
    repeats = 3 if args.quick and not gpu else 10 if gpu else 5
    unet_batch = args.unet_batch or (args.batch // 4 if args.quick and not gpu else args.batch)
    load_before = load_average()
    peak = PeakMemory(device)
    data, volume_info = phantom_data(device, args.size, real_cases=2 if args.quick else 4,
                                     synthetic_cases=1 if args.quick else 4)

    with tempfile.TemporaryDirectory(prefix="sra-seg-speed-") as tmp:
        tmp = Path(tmp)
        plain, run_a = run_training(train_config(args, device, pretrain=iters, selftrain=iters, sa=False,
                                                 cache=tmp / "cache"), data, tmp / "no-sa", peak)
        _, run_b = run_training(train_config(args, device, pretrain=0, selftrain=iters, sa=True, cache=tmp / "cache"),
                                data, tmp / "sa", peak, init=tmp / "no-sa" / "checkpoints" / "pretrain_best.pt")
        graphed = None
        if args.graphs == "on" or (args.graphs == "auto" and gpu):
            _, run_c = run_training(train_config(args, device, pretrain=iters, selftrain=iters, sa=False,
                                                 cache=tmp / "cache", graphs=True), data, tmp / "g-no-sa", peak)
            _, run_d = run_training(train_config(args, device, pretrain=0, selftrain=iters, sa=True,
                                                 cache=tmp / "cache", graphs=True), data, tmp / "g-sa", peak,
                                    init=tmp / "no-sa" / "checkpoints" / "pretrain_best.pt")
            graphed = {"stage1": run_c["stages"]["pretrain"], "stage2": run_c["stages"]["selftrain"],
                       "stage2_sa": run_d["stages"]["selftrain"]}
    amp = plain.autocast
    dtype = torch.bfloat16 if amp else torch.float32
    matmul_runs = [matmul_flops(device, dtype, 2048, repeats)]
    step = unet_step(plain, unet_batch, repeats, peak)
    matmul_runs.append(matmul_flops(device, dtype, 2048, repeats))
    matmul = statistics.median(matmul_runs)
    step["matmul_fraction_pct"] = 100 * step["flops_per_s"] / matmul
    one = plain.data.labeled_images[:1]
    per_image = {"forward": count_flops(plain, one, backward=False),
                 "forward_backward": count_flops(plain, one, backward=True)}

    # Model FLOPs per iteration: stage 1 trains on the labelled half-batch mixed into itself (labelled / 2 images);
    # stage 2 trains on two mixed batches (labelled images in all) and the teacher predicts the unlabelled images.
    labeled = plain.config.labeled_batch
    unlabeled = args.batch - labeled
    stage_flops = {"stage1": labeled // 2 * per_image["forward_backward"],
                   "stage2": labeled * per_image["forward_backward"] + unlabeled * per_image["forward"]}
    stage_flops["stage2_sa"] = stage_flops["stage2"]
    training = {"stage1": run_a["stages"]["pretrain"], "stage2": run_a["stages"]["selftrain"],
                "stage2_sa": run_b["stages"]["selftrain"]}
    for key, stage in training.items():
        stage.update(flops=stage_flops[key], flops_per_s=stage_flops[key] / stage["median_s"],
                     timed=len(stage["seconds"]) - 1)
    training["sa_overhead_pct"] = 100 * (training["stage2_sa"]["median_s"] / training["stage2"]["median_s"] - 1)
    validations = [s["validation_s"] for s in (*run_a["stages"].values(), *run_b["stages"].values())
                   if "validation_s" in s]
    training["graphs"] = graphed
    training["acdc_schedule"] = project_schedule(training, graphed, statistics.median(validations))
    bank = run_b["bank"]
    slices = bank["real"] + bank["synthetic"]
    training["bank"] = {"slices": slices, "seconds": bank["seconds"], "ms_per_slice": 1e3 * bank["seconds"] / slices}

    result = {
        "quick": args.quick, "batch": args.batch, "size": args.size, "iterations_per_stage": iters,
        "overrides": args.set,
        "training": training,
        "unet_step": step,
        "unet_flops_per_image": per_image,
        "matmul": {"n": 2048, "dtype": str(dtype).removeprefix("torch."), "runs": matmul_runs, "flops_per_s": matmul},
        "inference": inference(plain, data.val[0].image, repeats, peak),
        "validation": {"volume": list(ACDC_VOLUME), "per_volume_s": statistics.median(validations),
                       "seconds": validations},
        "metrics": metrics_time(data.val[0].label, volume_info["spacing_zyx"], repeats, peak),
        "environment": {
            "device": device.type, "device_name": describe_device(device), "torch": torch.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads(),
            "amp_bf16": amp, "channels_last": plain.channels_last,
            "peak_memory_per_phase": peak.resettable,
            "load_before": load_before, "load_after": load_average(),
        },
    }
    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
