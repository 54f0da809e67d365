"""The paper's comparison table on a real/synthetic domain gap, with phantoms (or real ACDC / FIVES folders).

Real-style cardiac phantoms are split by patient into train / validation / test; 10 % of the training patients are
labelled; the unlabelled stream is synthetic phantoms of one of two *families*: ``mild`` (the same anatomy, a
generator-like rendering) or ``hard`` (``write_acdc(gap="hard")``: another noise model, inverted cavity contrast,
another texture, and anatomy from another distribution). Every row runs through the same trainer with the same seeds;
each is scored on the held-out real-style test patients with the published tables' metrics (mean over classes; Dice
and Jaccard in %, HD95 and ASD in voxels and in mm), mean ± sd over seeds. Rows run under either protocol
(``studio`` or ``reference``, see ``sra_seg_core/protocol.py``); each semi-supervised row is compared with the
supervised-only row of the same protocol seed by seed: mean ± sd of the paired differences, a paired t-test
(``scipy.stats.ttest_rel``) and a Wilcoxon signed-rank test.

    python benchmarks/accuracy_phantom.py --small                # the committed table: a 2-core CPU, about an hour
    python benchmarks/accuracy_phantom.py --quick                # the older, larger CPU size (about 1.5 h per 7 rows)
    python benchmarks/accuracy_phantom.py --laptop --seeds 1 --rows supervised,sra-no-sa@mild --families mild
                                                                 # the laptop preset's schedule, unchanged
    python benchmarks/accuracy_phantom.py --paper --device cuda  # the paper's schedules, for GPUs
    python benchmarks/accuracy_phantom.py --paper --data ACDC/training --synthetic SYNTH/ --dinov2-weights w.pth

With CUDA GPUs visible (and ``--device auto|cuda``) the independent runs are spread over them, ``--per-gpu`` at a
time on each, every run in its own process (``--one-run``); on the CPU they run one after the other in this process.
Runs are kept in --work (default ./accuracy-work) and reused when finished, so an interrupted benchmark continues
where it stopped (``--progress`` prints how far each run has got). Writes ``accuracy_phantom_<size>.md``,
``.json`` and ``.png`` under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

_REF = {"train.protocol": "reference"}
# The released SA term sends no gradient and draws no random numbers, so a reference run with it trains exactly as
# without it (tests/core/test_protocol.py proves it); the reference SRA-Seg row leaves out its ViT-B/16 forward passes.
_REF_SRA = {**_REF, "alignment.enabled": False}
ROWS = (  # key, label, short label (plots), method, config overrides
    ("supervised", "Supervised only (10 % labelled)", "supervised", "supervised", {}),
    ("supervised-ref", "Supervised only, reference protocol", "sup (ref)", "supervised", _REF),
    ("mean-teacher", "Mean teacher + synthetic", "MT + syn", "mean-teacher", {}),
    ("bcp", "BCP + synthetic", "BCP + syn", "bcp", {}),
    ("sra-no-sa", "SRA-Seg without SA", "SRA no SA", "sra-seg", {"alignment.enabled": False}),
    ("sra-hard", "SRA-Seg, hard blending", "SRA hard", "sra-seg", {"blend.hard": True}),
    ("sra-seg", "SRA-Seg (full)", "SRA-Seg", "sra-seg", {}),
    ("sra-seg-ref", "SRA-Seg, reference protocol (released SA term)", "SRA (ref)", "sra-seg", _REF_SRA),
    ("bcp-real", "BCP + real unlabelled (ceiling)", "BCP + real", "bcp", {"data.unlabeled": "real"}),
)
FAMILIES = ("mild", "hard")


def needs_synthetic(row) -> bool:
    """Rows whose result depends on the synthetic family (the others are trained once and shared by the tables)."""
    return row[3] != "supervised" and row[4].get("data.unlabeled") != "real"


def baseline_of(row) -> str:
    """The supervised-only row a row is compared with: the one of its own protocol."""
    return "supervised-ref" if row[4].get("train.protocol") == "reference" else "supervised"

SIZES = {
    # The committed table: 5 seeds x 5 row-families (the default --rows) in about an hour on a 2-core CPU that other
    # work shares (load average above 20 while it ran): 48 px, a U-Net of half the channels, 120 + 80 iterations.
    # Measured before choosing: ~0.37 it/s per process at 64 px under that load. The studio SRA-Seg row runs
    # without SA: building the (untrained) DINOv2 bank alone took over 20 minutes per row under that load.
    "small": {"patients": 30, "synthetic": 16, "preset": "demo",
              "config": {"data.image_size": 48, "model.channels": (8, 16, 32, 64, 128), "train.batch_size": 12,
                         "train.pretrain_iters": 120, "train.selftrain_iters": 80, "train.validate_every": 20}},
    # Fits about an hour on a 2-core CPU: small slices, short schedules, 30 real + 16 synthetic patients. Stage 1 is
    # the longer one so that it converges (validation Dice ~0.5 after 200 iterations, ~0.8 after 400), as the paper's
    # 10 000 do: stage 2's teacher starts from it.
    "quick": {"patients": 30, "synthetic": 16, "preset": "demo",
              "config": {"data.image_size": 96, "train.batch_size": 12, "train.pretrain_iters": 400,
                         "train.selftrain_iters": 200, "train.validate_every": 50}},
    # The ``laptop`` preset's schedule unchanged (128 px, batch 12, 2 900 + 2 900 iterations, chosen by
    # benchmarks/laptop_schedule.py to fit an hour of 2 CPU cores) on the --small phantom set: its phantom result.
    "laptop": {"patients": 30, "synthetic": 16, "preset": "laptop", "config": {}},
    # The paper's schedules (10k + 50k iterations, batch 24, 256 px) and an ACDC-sized phantom set.
    "paper": {"patients": 100, "synthetic": 63, "preset": "acdc", "config": {}},
}

METRICS = ("dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_const", dest="size", const="small", help="CPU size (default)")
    size.add_argument("--quick", action="store_const", dest="size", const="quick", help="the older CPU size")
    size.add_argument("--laptop", action="store_const", dest="size", const="laptop",
                      help="the laptop preset's schedule (about an hour of 2 CPU cores per SRA-Seg run)")
    size.add_argument("--paper", action="store_const", dest="size", const="paper", help="the paper's schedules")
    p.set_defaults(size="small")
    p.add_argument("--seeds", type=int, default=5, help="training seeds per row (default 5): 1337, 1338, ...")
    p.add_argument("--only-seeds", help="train only these of them (comma-separated), e.g. to split a row over "
                                        "processes; the tables need every seed")
    p.add_argument("--rows", default="supervised,supervised-ref,sra-no-sa,sra-seg-ref@mild",
                   help=f"comma-separated subset of {','.join(r[0] for r in ROWS)}, each optionally KEY@FAMILY "
                        "(default, the committed table: both supervised rows, SRA-Seg without SA (studio) in both "
                        "families, SRA-Seg under the reference protocol in the mild family)")
    p.add_argument("--families", default="mild,hard", help="synthetic families: mild, hard or both (default)")
    p.add_argument("--per-gpu", type=int, default=2, help="runs at a time on each visible GPU (default 2)")
    p.add_argument("--one-run", nargs=3, metavar=("ROW", "FAMILY", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help="real labelled data (ACDC / FIVES / folder) instead of phantoms")
    p.add_argument("--synthetic", type=Path, help="synthetic image folder (with --data)")
    p.add_argument("--dinov2-weights", type=Path, help="DINOv2 weights for the SA rows (else an untrained encoder)")
    p.add_argument("--device", default="auto")
    p.add_argument("--work", type=Path, default=Path("accuracy-work"), help="runs and generated data")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--progress", action="store_true",
                   help="print how far each run of the table has got (from its events.jsonl) and train nothing")
    return p.parse_args(argv)


def phantom_data(work: Path, patients: int, synthetic: int, family: str = "mild") -> tuple[Path, Path]:
    """The real-style labelled set (shared) and the ``family``'s synthetic pool, written once under ``work``."""
    from sra_seg_core.phantoms import write_acdc

    real = work / "data" / "real"
    pool = work / "data" / ("synthetic" if family == "mild" else f"synthetic-{family}")
    if not (real / ".complete").exists():
        write_acdc(real, cases=patients, seed=0, style="real")
        (real / ".complete").touch()
    if not (pool / ".complete").exists():
        write_acdc(pool, cases=synthetic, seed=0, style="synthetic", first_id=1001, labels=False, gap=family)
        (pool / ".complete").touch()
    return real, pool


# --- scheduling ------------------------------------------------------------------------------------------------------
def gpu_slots(n_gpus: int, per_gpu: int) -> list[str]:
    """Device names for concurrent runs: ``per_gpu`` slots on each of ``n_gpus`` GPUs, interleaved so that a short
    job list still spreads over every GPU first (cuda:0, cuda:1, cuda:0, cuda:1, ...)."""
    return [f"cuda:{g}" for _ in range(max(per_gpu, 1)) for g in range(n_gpus)]


def run_scheduled(jobs: list, slots: list[str], start, poll_s: float = 2.0) -> list:
    """Run ``jobs`` with at most one per slot at a time. ``start(job, slot)`` returns a handle with ``poll()`` (None
    while running, else the exit code), as ``subprocess.Popen``. Returns ``[(job, slot, exit code)]`` in the order
    the jobs finished."""
    pending, running, done = list(jobs), {}, []
    while pending or running:
        for slot in slots:
            if slot not in running and pending:
                job = pending.pop(0)
                running[slot] = (job, start(job, slot))
        finished = [(slot, job, code) for slot, (job, handle) in running.items()
                    if (code := handle.poll()) is not None]
        for slot, job, code in finished:
            del running[slot]
            done.append((job, slot, code))
        if running and not finished:
            time.sleep(poll_s)
    return done


def run_config(args, size: dict, method: str, overrides: dict, seed: int, real: Path, pool: Path):
    from sra_seg_core.config import preset

    config = preset(size["preset"])
    config.data.root, config.data.synthetic = str(real), str(pool)
    config.train.method, config.train.seed, config.train.device = method, seed, args.device
    for key, value in {**size["config"], **overrides}.items():
        config.set(key, value)
    for item in args.set:
        key, _, value = item.partition("=")
        config.set(key.strip(), value.strip())
    if args.dinov2_weights:
        config.alignment.weights_file = str(args.dinov2_weights.resolve())
    else:
        config.alignment.allow_untrained, config.alignment.download = True, False
    return config


def run_dir_of(args, row, family: str, seed: int) -> Path:
    base = args.work / "runs" / family if needs_synthetic(row) else args.work / "runs"
    return base / row[0] / f"seed{seed}"


def one_run(args, size, row, seed, real, pool, family: str = "mild") -> dict:
    """Train (or reuse) one row x seed and score it on the test split: per-class means over test cases."""
    from sra_seg_core.evaluation import score_checkpoint
    from sra_seg_core.metrics import summarise
    from sra_seg_core.trainer import Trainer

    key, _label, _short, method, overrides = row
    run_dir = run_dir_of(args, row, family, seed)
    scored = run_dir / "test_metrics.json"
    if scored.exists():
        return json.loads(scored.read_text())
    config = run_config(args, size, method, overrides, seed, real, pool)
    t0, cpu0 = time.time(), _cpu_seconds()
    resume = (run_dir / "checkpoints" / "latest.pt").exists()
    result = Trainer(config, run_dir).run(resume=resume)
    minutes = (time.time() - t0) / 60
    # CPU time (every thread, and any child process) is what "an hour of 2 cores" means on a shared machine, where
    # wall time also counts the other work's share; a resumed run counts only this process's part.
    cpu_minutes = (_cpu_seconds() - cpu0) / 60
    labels, rows, names = score_checkpoint(result.best_path, real, split="test", device=args.device,
                                           on_case=lambda _c: None)
    summary = summarise(rows)
    per_class = {names[labels.index(label)]: {m: summary["labels"][label][m]["mean"] for m in METRICS}
                 for label in labels}
    mean = {m: float(np.nanmean([per_class[n][m] for n in per_class])) for m in METRICS}
    meta = json.loads((run_dir / "run.json").read_text())
    final_losses = _final_losses(run_dir)
    record = {"row": key, "seed": seed, "per_class": per_class, "mean": mean, "minutes": round(minutes, 2),
              "cpu_minutes": round(cpu_minutes, 2), "resumed": resume, "threads": config.train.num_threads,
              "val_best_dice": result.best_dice, "encoder": meta.get("encoder"), "data": meta.get("data"),
              "protocol": config.train.protocol, "family": family if needs_synthetic(row) else None,
              "final_losses": final_losses}
    scored.write_text(json.dumps(record, indent=2))
    return record


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) and of its finished child processes."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _final_losses(run_dir: Path) -> dict:
    """The last progress event's mean losses of each stage (what the run ended on), from events.jsonl."""
    out = {}
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "progress" and event.get("losses"):
            out[event["stage"]] = event["losses"]
    return out


def run_progress(run_dir: Path) -> dict | None:
    """How far a run has got, from its ``events.jsonl``: the stage and iteration of its last progress event, the last
    and best validation mean Dice of each stage, and the wall minutes from its first to its last event (a resumed run
    counts its pause too). None when the run has not started."""
    events = run_dir / "events.jsonl"
    if not events.exists():
        return None
    out = {"stage": None, "iteration": 0, "total": None, "validation": {}, "finished": False, "wall_minutes": 0.0}
    first = last = None
    for line in events.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # the line being written as we read
            continue
        first = event.get("time") if first is None else first
        last = event.get("time", last)
        kind, stage = event.get("event"), event.get("stage")
        if kind == "progress":
            out.update(stage=stage, iteration=event["iteration"], total=event.get("total"))
        elif kind == "validation":
            entry = out["validation"].setdefault(stage, {"iteration": 0, "last": None, "best": None})
            entry.update(iteration=event["iteration"], last=event["mean_dice"], best=event.get("best_dice"))
        elif kind == "done":
            out["finished"] = event.get("status") == "finished"  # "stopped": resumable
    if first is not None and last is not None:
        out["wall_minutes"] = round((last - first) / 60, 1)
    return out


def paired(records: list[dict], baseline: list[dict], metric: str = "dice") -> dict:
    """Seed-by-seed differences ``row - baseline`` of the mean-over-classes ``metric``: mean, sd (n-1), the paired
    t-test and Wilcoxon signed-rank p-values (two-sided), wins / ties / losses. Seeds present in both only."""
    from scipy import stats

    by_seed = {r["seed"]: r["mean"][metric] for r in baseline}
    pairs = [(r["mean"][metric], by_seed[r["seed"]]) for r in records if r["seed"] in by_seed]
    diff = np.array([a - b for a, b in pairs], dtype=np.float64)
    out = {"n": len(diff), "diffs": diff.tolist(), "mean": float(diff.mean()) if len(diff) else float("nan"),
           "sd": float(diff.std(ddof=1)) if len(diff) > 1 else float("nan"),
           "wins": int((diff > 0).sum()), "ties": int((diff == 0).sum()), "losses": int((diff < 0).sum()),
           "t_p": float("nan"), "wilcoxon_p": float("nan")}
    if len(diff) > 1 and np.any(diff != 0):
        out["t_p"] = float(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue)
        out["wilcoxon_p"] = float(stats.wilcoxon(diff).pvalue)
    return out


def aggregate(records: list[dict]) -> dict:
    """Mean and sd over seeds of each class's and the mean's metrics."""
    classes = list(records[0]["per_class"])
    out = {}
    for name in [*classes, "mean"]:
        values = {m: [r["mean"][m] if name == "mean" else r["per_class"][name][m] for r in records] for m in METRICS}
        out[name] = {m: (float(np.mean(v)), float(np.std(v))) for m, v in values.items()}
    return out


def fmt(pair, percent: bool, n: int = 2) -> str:
    """``mean ± sd``; the mean alone from one seed (whose sd of 0 would read as a measured spread)."""
    mean, sd = pair
    scale = 100 if percent else 1
    return f"{scale * mean:.2f}" if n < 2 else f"{scale * mean:.2f} ± {scale * sd:.2f}"


def _p(value: float) -> str:
    return "–" if value != value else f"{value:.3f}"  # NaN: no test possible (fewer than 2 seeds, all equal)


def write_table(path: Path, tables: dict, caption: str) -> str:
    """One Markdown table per synthetic family: every row's metrics (mean ± sd over seeds) and, for the
    semi-supervised rows, the paired difference in Dice (percentage points) and HD95 against the supervised-only row
    of the same protocol, with the paired t-test and Wilcoxon p-values and the seeds won / lost."""
    lines = [caption, ""]
    cpu = any("cpu_minutes" in r for results in tables.values() for e in results.values() for r in e["records"])
    for family, results in tables.items():
        rows = [r for r in ROWS if r[0] in results]
        classes = [c for c in next(iter(results.values()))["aggregate"] if c != "mean"]
        lines += [f"**Synthetic family: {family}**", "",
                  "| Method | protocol | " + " | ".join(f"{c} Dice %" for c in classes)
                  + " | Dice % | Jaccard % | HD95 vox | ASD vox | HD95 mm | ASD mm | ΔDice pp (paired) | p t / W "
                  "| won/lost | ΔHD95 vox | min/run |" + (" CPU min/run |" if cpu else ""),
                  "|---" * (len(classes) + 13 + cpu) + "|"]
        for key, label, _s, _m, overrides in rows:
            entry = results[key]
            agg = entry["aggregate"]
            n = len(entry["records"])
            cells = [overrides.get("train.protocol", "studio")]
            cells += [fmt(agg[c]["dice"], True, n) for c in classes]
            cells += [fmt(agg["mean"][m], m in ("dice", "jaccard"), n) for m in METRICS]
            d, h = entry.get("paired_dice"), entry.get("paired_hd95")
            if d:
                cells += [f"{100 * d['mean']:+.2f} (1 seed)" if d["n"] < 2
                          else f"{100 * d['mean']:+.2f} ± {100 * d['sd']:.2f}",
                          f"{_p(d['t_p'])} / {_p(d['wilcoxon_p'])}",
                          f"{d['wins']}/{d['losses']}",
                          f"{h['mean']:+.2f}" if h["n"] < 2 else f"{h['mean']:+.2f} ± {h['sd']:.2f}"]
            else:
                cells += ["(baseline)", "", "", ""]
            cells.append(f"{np.mean([r['minutes'] for r in entry['records']]):.1f}")
            if cpu:
                cpu_minutes = [r["cpu_minutes"] for r in entry["records"] if "cpu_minutes" in r]
                cells.append(f"{np.mean(cpu_minutes):.1f}" if cpu_minutes else "–")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines)
    path.write_text(text)
    return text


def write_plot(path: Path, tables: dict, title: str) -> None:
    """Per family, the paired Dice difference of each semi-supervised row against its supervised-only row
    (mean ± sd over seeds as bars, each seed a dot), rendered offscreen with pyqtgraph; 0 = no gain."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    bars = [(family, row) for family, results in tables.items() for row in ROWS
            if row[0] in results and results[row[0]].get("paired_dice")]
    if not bars:  # no row with its baseline in the table: nothing to plot
        print(f"no paired rows: {path.name} not written", file=sys.stderr)
        return
    app = QApplication.instance() or QApplication([])
    plot = pg.PlotWidget(background="w")
    plot.resize(1100, 560)
    plot.setTitle(title, color="k", size="11pt")
    plot.plotItem.setContentsMargins(12, 16, 16, 8)
    plot.getAxis("left").setWidth(72)
    x = np.arange(len(bars))
    means = np.array([100 * tables[f][r[0]]["paired_dice"]["mean"] for f, r in bars])
    sds = np.nan_to_num(np.array([100 * tables[f][r[0]]["paired_dice"]["sd"] for f, r in bars]))
    colors = ["#2b8a90" if m >= 0 else "#b5523b" for m in means]
    plot.addItem(pg.BarGraphItem(x=x, height=means, width=0.6, brushes=colors, pens=[pg.mkPen("k")] * len(bars)))
    plot.addItem(pg.ErrorBarItem(x=x, y=means, top=sds, bottom=sds, beam=0.2, pen=pg.mkPen("k", width=1.5)))
    for k, (family, row) in enumerate(bars):
        diffs = [100 * v for v in tables[family][row[0]]["paired_dice"]["diffs"]]
        plot.plot(np.full(len(diffs), k), diffs, pen=None, symbol="o", symbolSize=6, symbolBrush="k")
    plot.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("k", width=1, style=Qt.PenStyle.DashLine)))
    every = [100 * v for f, r in bars for v in tables[f][r[0]]["paired_dice"]["diffs"]] or [0.0]
    plot.setYRange(min(min(every), float((means - sds).min(initial=0))) - 1,
                   max(max(every), float((means + sds).max(initial=0))) + 1)
    plot.getAxis("bottom").setTicks([[(k, f"{r[2]} / {f}") for k, (f, r) in enumerate(bars)]])
    plot.getAxis("left").setLabel("Dice gain over supervised only, same protocol and seed (pp)", color="k")
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setTextPen("k")
        plot.getAxis(axis).setPen("k")
    plot.show()
    app.processEvents()
    plot.grab().save(str(path))
    plot.close()


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return f"{gpu} (CUDA)" if gpu else f"{os.cpu_count()}-core CPU ({cpu}), torch {torch.__version__}"


def parse_rows(text: str, families: list[str]) -> dict[str, list[str]]:
    """``--rows``: ``key`` (every family) or ``key@family`` (that family only) -> {key: [families]}, in ROWS order."""
    chosen: dict[str, list[str]] = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        key, _, family = item.partition("@")
        chosen.setdefault(key, []).extend([family] if family else families)
    return {r[0]: [f for f in families if f in chosen[r[0]]] for r in ROWS if r[0] in chosen}


def jobs_for(args, wanted: list[tuple], families: list[str], only: dict | None = None) -> list[tuple]:
    """(row key, family, seed) of every run the tables need; a row that ignores the synthetic pool runs once.
    ``only``: {row key: families} from :func:`parse_rows`."""
    jobs = []
    for row in wanted:
        row_families = (only or {}).get(row[0], families)
        for family in (row_families if needs_synthetic(row) else families[:1]):
            jobs += [(row[0], family, seed) for seed in seeds_of(args)]
    return jobs


def seeds_of(args) -> list[int]:
    seeds = [1337 + k for k in range(args.seeds)]
    only = getattr(args, "only_seeds", None)
    return [s for s in seeds if s in {int(v) for v in only.split(",")}] if only else seeds


def visible_gpus(device: str) -> int:
    import torch

    return torch.cuda.device_count() if device in ("auto", "cuda") and torch.cuda.is_available() else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    size = SIZES[args.size]
    args.work = args.work.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    families = [f for f in args.families.split(",") if f]
    only = parse_rows(args.rows, families)
    unknown = [f for f in families if f not in FAMILIES] + [
        r for r in args.rows.split(",") if r.partition("@")[0] not in {row[0] for row in ROWS}
        or r.partition("@")[2] not in ("", *families)]
    if unknown:
        raise SystemExit(f"error: unknown rows or families: {', '.join(unknown)}")
    rows = {r[0]: r for r in ROWS}

    def data_for(family):
        if args.data:
            return args.data.resolve(), (args.synthetic or args.data).resolve()
        return phantom_data(args.work, size["patients"], size["synthetic"], family)

    if args.one_run:  # a child process of the GPU scheduler: one row x family x seed
        key, family, seed = args.one_run
        record = one_run(args, size, rows[key], int(seed), *data_for(family), family=family)
        print(json.dumps({"row": key, "family": family, "seed": int(seed), "dice": record["mean"]["dice"]}))
        return 0
    wanted = [rows[k] for k in only]
    jobs = jobs_for(args, wanted, families, only)
    if args.progress:
        for key, family, seed in jobs:
            state = run_progress(run_dir_of(args, rows[key], family, seed))
            if state is None:
                print(f"{key:<16} {family:>4} seed {seed}: not started")
                continue
            vals = ", ".join(f"{stage} validation Dice {v['last']:.3f} at {v['iteration']} (best {v['best']:.3f})"
                             for stage, v in state["validation"].items())
            print(f"{key:<16} {family:>4} seed {seed}: {'finished' if state['finished'] else 'running'}, "
                  f"{state['stage']} {state['iteration']}/{state['total']}, {state['wall_minutes']} min; {vals}")
        return 0
    for family in families:
        data_for(family)  # written once, before any run starts
    n_gpus = visible_gpus(args.device)
    if n_gpus:
        slots = gpu_slots(n_gpus, args.per_gpu)
        script = Path(__file__).resolve()

        def start(job, slot):
            import subprocess

            key, family, seed = job
            log = args.work / "logs" / f"{family}-{key}-{seed}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, str(script), f"--{args.size}", "--work", str(args.work), "--device", slot,
                       "--one-run", key, family, str(seed), *[a for item in args.set for a in ("--set", item)]]
            if args.data:
                command += ["--data", str(args.data)] + (["--synthetic", str(args.synthetic)] if args.synthetic else [])
            if args.dinov2_weights:
                command += ["--dinov2-weights", str(args.dinov2_weights)]
            return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)

        for job, slot, code in run_scheduled(jobs, slots, start):
            print(f"{job} on {slot}: exit {code}", file=sys.stderr, flush=True)
    records = {}
    for key, family, seed in jobs:
        record = one_run(args, size, rows[key], seed, *data_for(family), family=family)  # reuses finished runs
        records[(key, family, seed)] = record
        print(f"{rows[key][1]:<48} {family:>4} seed {seed}: mean Dice {100 * record['mean']['dice']:.2f} % "
              f"({record['minutes']:.1f} min)", file=sys.stderr, flush=True)
    if args.only_seeds:
        return 0
    tables = {}
    for family in families:
        results = {}
        for row in (r for r in wanted if not needs_synthetic(r) or family in only[r[0]]):
            source = family if needs_synthetic(row) else families[0]
            recs = [records[(row[0], source, 1337 + k)] for k in range(args.seeds)]
            results[row[0]] = {"records": recs, "aggregate": aggregate(recs)}
        for row in (r for r in wanted if r[0] in results):
            base = baseline_of(row)
            if row[3] != "supervised" and base in results:
                results[row[0]]["paired_dice"] = paired(results[row[0]]["records"], results[base]["records"])
                results[row[0]]["paired_hd95"] = paired(results[row[0]]["records"], results[base]["records"], "hd95")
        tables[family] = results
    all_records = list(records.values())
    encoder = next((r["encoder"] for r in all_records if r.get("encoder")), None)
    untrained = encoder is not None and not encoder.get("pretrained")
    data_note = (f"{args.data} (+ {args.synthetic})" if args.data else
                 f"cardiac phantoms: {size['patients']} real-style patients (split 70/10/20 by patient, 10 % of "
                 f"the training patients labelled) + {size['synthetic']} synthetic patients per family as the "
                 "unlabelled stream (mild: same anatomy, generator-like rendering; hard: write_acdc(gap='hard'))")
    sample = all_records[0]
    labelled = sample["data"]["labeled_groups"] if sample.get("data") else "?"
    seeds_note = ("1 seed (1337), so no spread and no test" if args.seeds == 1 else
                  f"{args.seeds} seeds (1337…{1336 + args.seeds})")
    spread_note = ("" if args.seeds == 1 else
                   ", mean ± sd over seeds; ΔDice / ΔHD95: paired per-seed difference against supervised only of the "
                   "same protocol (mean ± sd, n-1), p from scipy.stats.ttest_rel / wilcoxon (two-sided; with 5 seeds "
                   "Wilcoxon cannot go below 0.0625)")
    cpu_records = [r for r in all_records if "cpu_minutes" in r]
    cpu_note = (f" ({sum(r['cpu_minutes'] for r in cpu_records):.0f} min of process CPU time, every thread)"
                if cpu_records else "")
    caption = (f"**{args.size} size**, {seeds_note}, {data_note}; labelled "
               f"patients: {labelled}; schedule: preset `{size['preset']}` with {size['config'] or 'no changes'}"
               + (f", overrides {', '.join(args.set)}" if args.set else "") + "; test split scored on "
               f"whole volumes, mean over classes{spread_note}; machine: {machine()}; "
               f"{sum(r['minutes'] for r in all_records):.0f} min of training in all{cpu_note}."
               + (f" {sum(bool(r.get('resumed')) for r in all_records)} run(s) were interrupted and continued from "
                  "their last checkpoint: their minutes count only the continued part."
                  if any(r.get("resumed") for r in all_records) else "")
               + (" The reference SRA-Seg row runs without its SA term: the released term sends no gradient and "
                  "draws no random numbers, so it trains identically (tested)." if "sra-seg-ref" in only else "")
               + (" **The studio SA rows used an UNTRAINED DINOv2 encoder** (no weights can be downloaded here; pass "
                  "--dinov2-weights for the method's pretrained alignment)." if untrained else ""))
    stem = args.out / f"accuracy_phantom_{args.size}"
    print(write_table(stem.with_suffix(".md"), tables, caption))
    (stem.with_suffix(".json")).write_text(json.dumps({"caption": caption, "tables": tables}, indent=2))
    write_plot(stem.with_suffix(".png"), tables, f"Phantom benchmark ({args.size}): paired Dice gain over "
                                                 f"supervised only, {args.seeds} seed{'' if args.seeds == 1 else 's'}")
    print(f"wrote {stem}.md / .json / .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
