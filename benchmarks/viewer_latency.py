"""Latency of the linked plane viewer and the 3-D surface refresh; prints the figures.

- slice change: the crosshair moves one slice along each plane's normal, and the time covers the model update, the
  signal fan-out to all three views and a forced synchronous repaint of each (``viewport().repaint()``). Volume
  64 x 512 x 512 (512² in the acquisition plane), anisotropic spacing. Target: p95 < 16 ms per plane.
- surface refresh: :func:`sra_seg_core.surface.label_meshes` for a 10 x 256 x 256 cardiac phantom label map (3
  classes), full resolution with the viewer's smoothing, and with step 2. Target: < 1 s. With ``--gl`` (under Xvfb
  or a desktop) also the SurfaceView's full refresh including GLMeshItem upload.

    python benchmarks/viewer_latency.py [--repeats 60] [--gl] [--json OUT]

The machine this runs on may be shared: each figure is the median (and p95 / min) of several runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

if "--gl" not in sys.argv:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "min_ms": float(ms.min()),
            "n": int(ms.size)}


def slice_change(repeats: int) -> dict[str, dict[str, float]]:
    from PySide6.QtWidgets import QApplication

    from sra_seg_app.model.planes import PlanesModel
    from sra_seg_app.widgets.plane_views import PlaneViews
    from sra_seg_core.image import Image

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(0)
    shape = (64, 512, 512)
    image = Image.from_spacing((rng.random(shape) * 1000).astype(np.int16), (0.7, 0.7, 2.5))
    labels = np.zeros(shape, np.uint8)
    labels[10:50, 100:400, 150:350] = 1
    labels[20:40, 200:300, 200:300] = 2
    model = PlanesModel()
    model.set_image(image, labels, {1: "#E69F00", 2: "#56B4E9"})
    widget = PlaneViews(model)
    widget.resize(1500, 520)
    widget.show()
    # under X the window maps a little later: a repaint before that paints nothing (a 0.1 ms "slice change")
    deadline = time.monotonic() + 10
    while not (widget.windowHandle() and widget.windowHandle().isExposed()) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    results = {}
    for plane in ("axial", "coronal", "sagittal"):
        times = []
        for n in range(repeats + 5):
            step = 1 if (n // 10) % 2 == 0 else -1
            t0 = time.perf_counter()
            model.step(plane, step)
            for view in widget.views.values():
                view.viewport().repaint()
            times.append(time.perf_counter() - t0)
        results[plane] = _stats(times[5:])  # the first ones warm caches
    widget.close()
    return results


def surface_refresh(repeats: int, gl: bool) -> dict[str, dict[str, float]]:
    from sra_seg_core.phantoms import cardiac_case
    from sra_seg_core.surface import label_meshes

    _, labels = cardiac_case(3, shape=(10, 256, 256))
    results = {}
    for name, kwargs in (("full", {"smooth_sigma": 0.8}), ("step2", {"step": 2, "smooth_sigma": 0.8})):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            label_meshes(labels.array, labels.affine, **kwargs)
            times.append(time.perf_counter() - t0)
        results[f"meshes_{name}"] = _stats(times)
    if gl:
        from PySide6.QtWidgets import QApplication

        from sra_seg_app.widgets.surface_view import SurfaceView

        app = QApplication.instance() or QApplication([])
        view = SurfaceView(debounce_ms=0)
        if view.problem is not None:
            print(f"no OpenGL: {view.problem}", file=sys.stderr)
        else:
            view.resize(600, 600)
            view.show()
            app.processEvents()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                view.set_labels(labels.array, labels.affine, {1: "#E69F00", 2: "#56B4E9", 3: "#009E73"})
                view.refresh(background=False)  # the same work as the worker thread's, timed here
                view.gl.repaint()
                times.append(time.perf_counter() - t0)
            results["surface_view_gl"] = _stats(times)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--gl", action="store_true", help="also time the OpenGL SurfaceView (needs a display)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    figures = {"slice_change_512": slice_change(args.repeats),
               "surface_10x256x256": surface_refresh(max(3, args.repeats // 10), args.gl)}
    for group, rows in figures.items():
        print(group)
        for name, s in rows.items():
            print(f"  {name:<18} median {s['median_ms']:8.2f} ms   p95 {s['p95_ms']:8.2f} ms   "
                  f"min {s['min_ms']:8.2f} ms   (n={s['n']})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
