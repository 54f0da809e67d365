"""Viewer latency measured from the Qt event loop: start-up to a visible window, slice change, brush dab.

Each timing covers the engine work, the signal fan-out and a forced synchronous repaint of the viewer
(``viewport().repaint()``), i.e. what the user waits for before the new frame is on screen. Runs offscreen.

    python benchmarks/app_latency.py [--repeats 60] [--json OUT] [--linked-only] [--gl]
    python benchmarks/app_latency.py --first-start [--repeats 5]   # window shown -> first image on a fresh machine

The linked views (slice change in each of the three planes, 3-D refresh) are timed in the real Label workspace
wiring; ``xvfb-run -a python benchmarks/app_latency.py --gl --linked-only`` includes the 3-D refresh (Mesa llvmpipe).
``benchmarks/viewer_latency.py`` times the plane views and the meshing alone, without the window.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if "--gl" not in sys.argv:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def startup_seconds() -> float:
    """Interpreter start to the first painted main window, in a fresh process (imports included)."""
    code = ("import time; t=time.perf_counter(); import os; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
            "from PySide6.QtWidgets import QApplication; app=QApplication([])\n"
            "from sra_seg_app.main_window import MainWindow; from sra_seg_app.theme import apply_theme\n"
            "apply_theme(app); w=MainWindow(); w.show(); app.processEvents(); w.repaint()\n"
            "import sys; print(time.perf_counter()-t, 'torch' in sys.modules)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    total = time.perf_counter() - t0
    inside, torch_loaded = out.stdout.split()
    return total, float(inside), torch_loaded == "True"


def make_project(folder: Path, shape) -> tuple[str, str]:
    from sra_seg_core.image import Image
    from sra_seg_core.io import write_image
    from sra_seg_core.project import Project

    rng = np.random.default_rng(0)
    image = Image.from_spacing((rng.random(shape) * 1000).astype(np.int16), (0.8, 0.8, 5.0))
    source = write_image(image, folder / f"img_{shape[1]}.nii")
    project = Project.create(folder / f"project_{shape[1]}")
    case = project.import_image(source)
    project.close()
    return str(folder / f"project_{shape[1]}"), case.id


def measure(shape, repeats: int) -> dict:
    from PySide6.QtWidgets import QApplication

    from sra_seg_app.main_window import MainWindow
    from sra_seg_app.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    with tempfile.TemporaryDirectory() as tmp:
        path, case = make_project(Path(tmp), shape)
        window = MainWindow()
        window.resize(1400, 900)
        window.show()
        window.open_project(path)
        window.session.select_case(case)
        app.processEvents()
        canvas, session = window.canvas, window.session
        canvas.brush_radius = 10

        def frame(action) -> float:
            t = time.perf_counter()
            action()
            canvas.viewport().repaint()
            return (time.perf_counter() - t) * 1000

        n = session.image.shape[0]
        slice_ms = [frame(lambda k=k: session.set_slice((k + 1) % n)) for k in range(repeats)]
        ny, nx = session.image.shape[1:]
        rng = np.random.default_rng(1)

        def dab():
            r, c = rng.uniform(20, ny - 20), rng.uniform(20, nx - 20)
            canvas._stroke = None
            canvas._dab([(r, c), (r + 3, c + 3)])     # one mouse-move step of a stroke, painted live

        dab_ms = [frame(dab) for _ in range(repeats)]
        canvas._stroke = None
        window.session.history.clear()
        window.close()
    pct = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
    return {"shape": list(shape), "slice_p50_ms": pct(slice_ms, 50), "slice_p95_ms": pct(slice_ms, 95),
            "dab_p50_ms": pct(dab_ms, 50), "dab_p95_ms": pct(dab_ms, 95)}


LINKED_PASSES = ("1x3", "2x2", "1x3_after_3d")  # the layout is the name's first three characters


def nested_labels(shape) -> np.ndarray:
    """(Z, Y, X) uint8: three nested ellipsoids (classes 1, 2, 3) filling most of the volume, so that every slice of
    every plane has labels to draw."""
    z, y, x = np.ogrid[tuple(slice(0, n) for n in shape)]
    r = sum(((c - (n - 1) / 2) / (n / 2)) ** 2 for c, n in zip((z, y, x), shape))
    return np.select([r < 0.3, r < 0.6, r < 1.0], [3, 2, 1], 0).astype(np.uint8)


def measure_linked(repeats: int) -> dict:
    """The Label workspace's linked views in the real window (2x2: canvas + two planes + 3-D), 20 x 512 x 512 with
    labels on every slice (:func:`nested_labels`).

    slice change per plane: the acquisition plane through the session (what PgDn does: the canvas and the crosshair
    follow), the others through the planes model (what the wheel over a plane view does: the canvas follows when z
    changes); each timing ends with a synchronous repaint of every shown view. Wall time (p50, p95, min) and the GUI
    thread's CPU time (``time.thread_time``: the work, without the waits a shared machine's scheduler adds; the X
    server's share of a flush is not in it). Passes: 1x3, 2x2 (3-D view shown), 1x3 again. 3-D refresh: a 10 x 256 x 256 cardiac
    phantom's labels in the same window, from the debounce firing to the meshes shown (marching cubes, smoothing,
    GLMeshItem upload, a GL repaint); needs OpenGL (``--gl`` under Xvfb), else it is skipped and says so.
    """
    from PySide6.QtWidgets import QApplication

    from sra_seg_app.main_window import MainWindow
    from sra_seg_app.theme import apply_theme
    from sra_seg_core.io import write_image
    from sra_seg_core.phantoms import cardiac_case
    from sra_seg_core.project import Project

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        path, case = make_project(Path(tmp), (20, 512, 512))
        heart_image, heart_labels = cardiac_case(3, shape=(10, 256, 256))
        heart_path = write_image(heart_image, Path(tmp) / "heart.nii.gz")
        with Project.open(path) as project:
            project.save_label(case, nested_labels((20, 512, 512)))  # every plane draws an overlay, as in use
            heart = project.import_image(heart_path).id
            project.save_label(heart, heart_labels.array)
        window = MainWindow()
        window.resize(1600, 1000)
        window.show()
        window.open_project(path)
        window.session.select_case(case)
        # the window probes the devices in a child process (it imports torch: seconds of CPU); time the views once
        # it is done, not against it
        deadline = time.monotonic() + 120
        while window._device_run.running and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.05)
        views = window.label_ws.views
        session, model = window.session, views.model
        # 1x3 first (no OpenGL in the window yet), 2x2 with the 3-D view, then 1x3 again: does the 3-D view, once
        # shown, slow the plane views down after it is hidden?
        passes = [(name, name[:3], p) for name in LINKED_PASSES for p in ("axial", "coronal", "sagittal")]
        for name, layout, plane in passes:
            if views.model.layout != layout:
                views.set_layout(layout)
                for _ in range(3):
                    app.processEvents()
            shown = [views.planes.widget_for(p) for p in ("axial", "coronal", "sagittal")]

            def repaint_all() -> None:
                for widget in shown:
                    widget.viewport().repaint()

            times, cpu = [], []
            for n in range(repeats + 5):
                step = 1 if (n // 8) % 2 == 0 else -1
                t0, c0 = time.perf_counter(), time.thread_time()
                if model.can_paint(plane):
                    session.set_slice(session.z + step if 0 <= session.z + step < session.image.shape[0]
                                      else session.z - step)
                else:
                    model.step(plane, step)
                repaint_all()
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
            times, cpu = times[5:], cpu[5:]  # the first ones warm caches
            result[f"slice_{name}_{plane}_p50_ms"] = float(np.percentile(times, 50))
            result[f"slice_{name}_{plane}_p95_ms"] = float(np.percentile(times, 95))
            result[f"slice_{name}_{plane}_min_ms"] = float(np.min(times))
            # CPU time of the GUI thread: the work itself, which a loaded machine's scheduling does not stretch
            result[f"slice_{name}_{plane}_cpu_p50_ms"] = float(np.percentile(cpu, 50))
            result[f"slice_{name}_{plane}_cpu_p95_ms"] = float(np.percentile(cpu, 95))
        views.set_layout("2x2")  # the 3-D view meshes only while it is shown
        window.session.select_case(heart)
        app.processEvents()
        surface = views.surface
        if surface.problem is not None:
            result["surface_refresh_s"] = None
            result["surface_note"] = f"no OpenGL here ({surface.problem}); run with --gl under xvfb-run"
        else:
            times = []
            for _ in range(max(3, repeats // 10)):
                t0 = time.perf_counter()
                surface.refresh(background=False)  # what the debounce timer starts, here in this thread
                surface.gl.repaint()
                times.append(time.perf_counter() - t0)
            result["surface_refresh_s"] = float(np.median(times))
            result["surface_refresh_min_s"] = float(np.min(times))
            result["surface_meshes"] = len(surface.items)
        window.session.history.clear()
        window.close()
    from sra_seg_app.model.worker import Worker

    Worker.stop_all()  # a mesh build the 2x2 pass started; no event loop ran, so aboutToQuit will not stop it
    return result


# --- first start (scripts/run-demo on a fresh machine) --------------------------------------------------------------
FIRST_START = """
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
app = QApplication([])
from sra_seg_app.main_window import MainWindow
from sra_seg_app.theme import apply_theme
apply_theme(app)
window = MainWindow(); window.resize(1440, 900); window.show(); app.processEvents(); window.repaint()
shown = time.perf_counter()
if sys.argv[1] == "whole":   # what the first start did before: the whole project, then the window opens it
    from sra_seg_core.demo import create_demo_project
    from sra_seg_app.main_window import demo_project_path
    create_demo_project(demo_project_path()).close()
window.open_demo()
window.canvas.viewport().repaint()
first = time.perf_counter() - shown
assert window.session.image is not None
while window.demo_fill.running:
    app.processEvents()
    time.sleep(0.01)
print(json.dumps({"first_image_s": first, "complete_s": time.perf_counter() - shown,
                  "cases": len(window.session.project.cases)}))
window.close()
"""


def first_start_seconds(mode: str = "first") -> dict:
    """One fresh process, no demo project yet (a new user data folder): seconds from the window shown to the first
    image painted, and to the demo project complete. ``mode`` "whole" makes the whole project before opening it, as
    the first start did before the background fill."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "SRA_SEG_CONFIG_DIR": f"{home}/config", "SRA_SEG_DATA_DIR": f"{home}/data",
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                              os.environ.get("PYTHONPATH", "")])}
        out = subprocess.run([sys.executable, "-c", FIRST_START, mode], capture_output=True, text=True, env=env,
                             check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report_first_start(repeats: int, json_out: Path | None) -> None:
    rows = {mode: [first_start_seconds(mode) for _ in range(repeats)] for mode in ("first", "whole")}
    print(f"first start, window shown -> first image painted (s), {repeats} fresh processes each:")
    for mode, label in (("first", "first patient, rest in background"), ("whole", "whole project first (before)")):
        first = [r["first_image_s"] for r in rows[mode]]
        complete = [r["complete_s"] for r in rows[mode]]
        print(f"  {label:<36} first image min {min(first):5.2f}  median {float(np.median(first)):5.2f}   "
              f"project complete median {float(np.median(complete)):5.2f}   ({rows[mode][0]['cases']} cases)")
    if json_out:
        json_out.write_text(json.dumps({"first_start": rows}, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--linked-only", action="store_true", help="only the linked views (planes and 3-D)")
    parser.add_argument("--gl", action="store_true", help="a real display (xvfb-run), so the 3-D refresh is timed")
    parser.add_argument("--first-start", action="store_true",
                        help="only the first start: window shown to first image, in fresh processes (--repeats of "
                             "them, default 5)")
    args = parser.parse_args()
    if args.first_start:
        report_first_start(args.repeats if "--repeats" in sys.argv else 5, args.json)
        return 0
    linked = measure_linked(args.repeats)
    print("linked views (Label workspace, 20 x 512 x 512; slice change incl. repaint of every shown view, ms):")
    for name in LINKED_PASSES:
        for plane in ("axial", "coronal", "sagittal"):
            key = f"slice_{name}_{plane}"
            print(f"  {name:<12} {plane:<9} p50 {linked[key + '_p50_ms']:7.1f}   p95 {linked[key + '_p95_ms']:7.1f}"
                  f"   min {linked[key + '_min_ms']:6.1f}   GUI-thread CPU p50 {linked[key + '_cpu_p50_ms']:5.1f}"
                  f"   p95 {linked[key + '_cpu_p95_ms']:5.1f}")
    print(f"  load average (1, 5, 15 min) at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if linked["surface_refresh_s"] is None:
        print(f"  3-D refresh: {linked['surface_note']}")
    else:
        print(f"  3-D refresh (10 x 256 x 256, {linked['surface_meshes']} classes): median "
              f"{linked['surface_refresh_s']:.2f} s, min {linked['surface_refresh_min_s']:.2f} s")
    if args.linked_only:
        if args.json:  # only the linked figures are new: the other keys of an earlier full run are kept
            from sra_seg_core.atomic import atomic_write_json

            earlier = json.loads(args.json.read_text()) if args.json.exists() else {}
            atomic_write_json(args.json, {**earlier, "linked": linked, "linked_load_average": os.getloadavg()})
        return 0
    total, inside, torch_loaded = startup_seconds()
    rows = [measure((20, 512, 512), args.repeats), measure((2, 2048, 2048), args.repeats)]
    print(f"start-up to painted window: {total:.2f} s (process), {inside:.2f} s after interpreter start; "
          f"torch imported: {torch_loaded}")
    print(f"{'slice':>12} {'change p50':>11} {'p95':>8} {'brush p50':>10} {'p95':>8}   (ms)")
    for r in rows:
        size = "x".join(map(str, r["shape"][1:]))
        print(f"{size:>12} {r['slice_p50_ms']:>11.1f} {r['slice_p95_ms']:>8.1f} {r['dab_p50_ms']:>10.1f} "
              f"{r['dab_p95_ms']:>8.1f}")
    if args.json:
        args.json.write_text(json.dumps({"startup_s": total, "startup_inside_s": inside,
                                         "torch_at_startup": torch_loaded, "rows": rows, "linked": linked},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
