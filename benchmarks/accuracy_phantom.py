"""The paper's comparison table on a real/synthetic domain gap, with phantoms (or real ACDC / FIVES folders).

Real-style cardiac phantoms are split by patient into train / validation / test; 10 % of the training patients are
labelled; the unlabelled stream is synthetic-style phantoms (a visibly different rendering: the domain gap). Every row
runs through the same trainer with the same seeds; each is scored on the held-out real-style test patients with the
published tables' metrics (mean over classes; Dice and Jaccard in %, HD95 and ASD in voxels and in mm), mean ± sd
over seeds.

    python benchmarks/accuracy_phantom.py --quick                # a 2-core CPU, about an hour
    python benchmarks/accuracy_phantom.py --paper --device cuda  # the paper's schedules, for a GPU
    python benchmarks/accuracy_phantom.py --paper --data ACDC/training --synthetic SYNTH/ --dinov2-weights w.pth

Runs are kept in --work (default ./accuracy-work) and reused when finished, so an interrupted benchmark continues
where it stopped. Writes ``accuracy_phantom_<size>.md``, ``.json`` and ``.png`` under --out.
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

ROWS = (  # key, label, short label (plots), method, config overrides
    ("supervised", "Supervised only (10 % labelled)", "supervised", "supervised", {}),
    ("mean-teacher", "Mean teacher + synthetic", "MT + syn", "mean-teacher", {}),
    ("bcp", "BCP + synthetic", "BCP + syn", "bcp", {}),
    ("sra-no-sa", "SRA-Seg without SA", "SRA no SA", "sra-seg", {"alignment.enabled": False}),
    ("sra-hard", "SRA-Seg, hard blending", "SRA hard", "sra-seg", {"blend.hard": True}),
    ("sra-seg", "SRA-Seg (full)", "SRA-Seg", "sra-seg", {}),
    ("bcp-real", "BCP + real unlabelled (ceiling)", "BCP + real", "bcp", {"data.unlabeled": "real"}),
)

SIZES = {
    # Fits about an hour on a 2-core CPU: small slices, short schedules, 30 real + 16 synthetic patients. Stage 1 is
    # the longer one so that it converges (validation Dice ~0.5 after 200 iterations, ~0.8 after 400), as the paper's
    # 10 000 do: stage 2's teacher starts from it.
    "quick": {"patients": 30, "synthetic": 16, "preset": "demo",
              "config": {"data.image_size": 96, "train.batch_size": 12, "train.pretrain_iters": 400,
                         "train.selftrain_iters": 200, "train.validate_every": 50}},
    # The paper's schedules (10k + 50k iterations, batch 24, 256 px) and an ACDC-sized phantom set.
    "paper": {"patients": 100, "synthetic": 63, "preset": "acdc", "config": {}},
}

METRICS = ("dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick", help="CPU size (default)")
    size.add_argument("--paper", action="store_const", dest="size", const="paper", help="the paper's schedules")
    p.set_defaults(size="quick")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per row (default 3)")
    p.add_argument("--rows", help=f"comma-separated subset of {','.join(r[0] for r in ROWS)}")
    p.add_argument("--data", type=Path, help="real labelled data (ACDC / FIVES / folder) instead of phantoms")
    p.add_argument("--synthetic", type=Path, help="synthetic image folder (with --data)")
    p.add_argument("--dinov2-weights", type=Path, help="DINOv2 weights for the SA rows (else an untrained encoder)")
    p.add_argument("--device", default="auto")
    p.add_argument("--work", type=Path, default=Path("accuracy-work"), help="runs and generated data")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    return p.parse_args(argv)


def phantom_data(work: Path, patients: int, synthetic: int) -> tuple[Path, Path]:
    from sra_seg_core.phantoms import write_acdc

    real, pool = work / "data" / "real", work / "data" / "synthetic"
    if not (real / ".complete").exists():
        write_acdc(real, cases=patients, seed=0, style="real")
        (real / ".complete").touch()
    if not (pool / ".complete").exists():
        write_acdc(pool, cases=synthetic, seed=0, style="synthetic", first_id=1001, labels=False)
        (pool / ".complete").touch()
    return real, pool


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


def one_run(args, size, row, seed, real, pool) -> dict:
    """Train (or reuse) one row x seed and score it on the test split: per-class means over test cases."""
    from sra_seg_core.evaluation import score_checkpoint
    from sra_seg_core.metrics import summarise
    from sra_seg_core.trainer import Trainer

    key, _label, _short, method, overrides = row
    run_dir = args.work / "runs" / key / f"seed{seed}"
    scored = run_dir / "test_metrics.json"
    if scored.exists():
        return json.loads(scored.read_text())
    config = run_config(args, size, method, overrides, seed, real, pool)
    t0 = time.time()
    resume = (run_dir / "checkpoints" / "latest.pt").exists()
    result = Trainer(config, run_dir).run(resume=resume)
    minutes = (time.time() - t0) / 60
    labels, rows, names = score_checkpoint(result.best_path, real, split="test", device=args.device,
                                           on_case=lambda _c: None)
    summary = summarise(rows)
    per_class = {names[labels.index(label)]: {m: summary["labels"][label][m]["mean"] for m in METRICS}
                 for label in labels}
    mean = {m: float(np.nanmean([per_class[n][m] for n in per_class])) for m in METRICS}
    meta = json.loads((run_dir / "run.json").read_text())
    record = {"row": key, "seed": seed, "per_class": per_class, "mean": mean, "minutes": round(minutes, 2),
              "val_best_dice": result.best_dice, "encoder": meta.get("encoder"), "data": meta.get("data")}
    scored.write_text(json.dumps(record, indent=2))
    return record


def aggregate(records: list[dict]) -> dict:
    """Mean and sd over seeds of each class's and the mean's metrics."""
    classes = list(records[0]["per_class"])
    out = {}
    for name in [*classes, "mean"]:
        values = {m: [r["mean"][m] if name == "mean" else r["per_class"][name][m] for r in records] for m in METRICS}
        out[name] = {m: (float(np.mean(v)), float(np.std(v))) for m, v in values.items()}
    return out


def fmt(pair, percent: bool) -> str:
    mean, sd = pair
    scale = 100 if percent else 1
    return f"{scale * mean:.2f} ± {scale * sd:.2f}"


def write_table(path: Path, results: dict, caption: str) -> str:
    rows = [r for r in ROWS if r[0] in results]
    classes = [c for c in next(iter(results.values()))["aggregate"] if c != "mean"]
    lines = [caption, "",
             "| Method | " + " | ".join(f"{c} Dice %" for c in classes)
             + " | Dice % | Jaccard % | HD95 vox | ASD vox | HD95 mm | ASD mm | min/run |",
             "|---" * (len(classes) + 8) + "|"]
    for key, label, _s, _m, _o in rows:
        agg = results[key]["aggregate"]
        cells = [fmt(agg[c]["dice"], True) for c in classes]
        cells += [fmt(agg["mean"][m], m in ("dice", "jaccard")) for m in METRICS]
        cells.append(f"{np.mean([r['minutes'] for r in results[key]['records']]):.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def write_plot(path: Path, results: dict, title: str) -> None:
    """Mean Dice ± sd per row (bars) with the per-seed values as dots, rendered offscreen with pyqtgraph."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    rows = [r for r in ROWS if r[0] in results]
    plot = pg.PlotWidget(background="w")
    plot.resize(1100, 560)
    plot.setTitle(title, color="k", size="11pt")
    plot.plotItem.setContentsMargins(12, 16, 16, 8)
    plot.getAxis("left").setWidth(72)
    x = np.arange(len(rows))
    means = np.array([100 * results[r[0]]["aggregate"]["mean"]["dice"][0] for r in rows])
    sds = np.array([100 * results[r[0]]["aggregate"]["mean"]["dice"][1] for r in rows])
    colors = ["#8c96a3" if r[3] != "sra-seg" else "#2b8a90" for r in rows]
    plot.addItem(pg.BarGraphItem(x=x, height=means, width=0.6, brushes=colors, pens=[pg.mkPen("k")] * len(rows)))
    plot.addItem(pg.ErrorBarItem(x=x, y=means, top=sds, bottom=sds, beam=0.2, pen=pg.mkPen("k", width=1.5)))
    for k, row in enumerate(rows):
        seeds = [100 * r["mean"]["dice"] for r in results[row[0]]["records"]]
        plot.plot(np.full(len(seeds), k), seeds, pen=None, symbol="o", symbolSize=6, symbolBrush="k")
    if "supervised" in results:  # the line every semi-supervised row has to clear
        baseline = 100 * results["supervised"]["aggregate"]["mean"]["dice"][0]
        pen = pg.mkPen("#b5523b", width=1.5, style=Qt.PenStyle.DashLine)
        plot.addItem(pg.InfiniteLine(baseline, angle=0, pen=pen))
        plot.setTitle(f"{title}; dashed: supervised only ({baseline:.2f} %)", color="k", size="11pt")
    low = max(0.0, float((means - sds).min()) - 5)
    plot.setYRange(low, min(100.0, float((means + sds).max()) + 3))
    plot.getAxis("bottom").setTicks([[(k, r[2]) for k, r in enumerate(rows)]])
    plot.getAxis("left").setLabel("mean Dice over RV/Myo/LV (%)", color="k")
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


def main(argv=None) -> int:
    args = parse_args(argv)
    size = SIZES[args.size]
    args.work = args.work.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.data:
        real, pool = args.data.resolve(), (args.synthetic or args.data).resolve()
    else:
        real, pool = phantom_data(args.work, size["patients"], size["synthetic"])
    wanted = set(args.rows.split(",")) if args.rows else {r[0] for r in ROWS}
    results = {}
    for row in ROWS:
        if row[0] not in wanted:
            continue
        records = []
        for seed in range(args.seeds):
            record = one_run(args, size, row, 1337 + seed, real, pool)
            records.append(record)
            print(f"{row[1]:<34} seed {seed}: mean Dice {100 * record['mean']['dice']:.2f} % "
                  f"({record['minutes']:.1f} min)", file=sys.stderr, flush=True)
        results[row[0]] = {"records": records, "aggregate": aggregate(records)}
    encoder = next((r["encoder"] for v in results.values() for r in v["records"] if r.get("encoder")), None)
    untrained = encoder is not None and not encoder.get("pretrained")
    data_note = (f"{args.data} (+ {args.synthetic})" if args.data else
                 f"cardiac phantoms: {size['patients']} real-style patients (split 70/10/20 by patient, 10 % of "
                 f"the training patients labelled) + {size['synthetic']} synthetic-style patients as the unlabelled "
                 "stream")
    sample = next(iter(results.values()))["records"][0]
    labelled = sample["data"]["labeled_groups"] if sample.get("data") else "?"
    caption = (f"**{args.size} size**, {args.seeds} seeds, {data_note}; labelled patients: {labelled}; "
               f"schedule: preset `{size['preset']}` with {size['config'] or 'no changes'}"
               + (f", overrides {', '.join(args.set)}" if args.set else "") + "; test split scored on "
               f"whole volumes, mean over classes, mean ± sd over seeds; machine: {machine()}; "
               f"{sum(r['minutes'] for v in results.values() for r in v['records']):.0f} min of training in all."
               + (" **The SA rows used an UNTRAINED DINOv2 encoder** (no weights can be downloaded here; pass "
                  "--dinov2-weights for the method's pretrained alignment)." if untrained else ""))
    stem = args.out / f"accuracy_phantom_{args.size}"
    print(write_table(stem.with_suffix(".md"), results, caption))
    (stem.with_suffix(".json")).write_text(json.dumps({"caption": caption, "results": results}, indent=2))
    write_plot(stem.with_suffix(".png"), results, f"Phantom benchmark ({args.size}): mean Dice ± sd over "
                                                   f"{args.seeds} seeds")
    print(f"wrote {stem}.md / .json / .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
