"""Screenshots of the viewer pieces on a cardiac phantom: each plane layout (2x2 with the 3-D view, 1x3, 1x1) and the
indices panel with a Bland–Altman plot of perturbed predictions. Needs an X display with OpenGL, e.g.

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/viewer_screenshots.py OUT_DIR

(ImageMagick's ``import`` grabs the screen, so the OpenGL view is captured as drawn.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow


def _settle(app, seconds=0.5):
    for _ in range(30):
        app.processEvents()
    time.sleep(seconds)
    for _ in range(30):
        app.processEvents()


def _perturbed_predictions(data: Path, out: Path) -> None:
    """Predictions that grow or shrink the LV cavity by one voxel ring: indices that disagree measurably."""
    from scipy import ndimage

    from sra_seg_core.io import read_label, write_image

    rng = np.random.default_rng(0)
    for gt in sorted(data.rglob("*_gt.nii.gz")):
        label = read_label(gt, num_classes=4)
        array = label.array.copy()
        lv = array == 3
        if rng.random() < 0.5:
            array[lv & ~ndimage.binary_erosion(lv)] = 2
        else:
            array[ndimage.binary_dilation(lv) & (array == 2)] = 3
        write_image(label.with_array(array, label=True), out / gt.name.replace("_gt", "_pred"))


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv)
    from sra_seg_app.model.planes import PlanesModel
    from sra_seg_app.widgets.indices_panel import IndicesPanel
    from sra_seg_app.widgets.plane_views import PlaneViews
    from sra_seg_app.widgets.surface_view import SurfaceView
    from sra_seg_core.indices import acdc_indices
    from sra_seg_core.phantoms import cardiac_case, write_acdc
    from sra_seg_core.project.classes import DEFAULT_CLASSES

    image, labels = cardiac_case(7, shape=(10, 216, 256))
    colors = {c.value: c.color for c in DEFAULT_CLASSES}
    model = PlanesModel()
    surface = SurfaceView(debounce_ms=50)
    print(f"OpenGL: {surface.problem or 'available'}")
    window = QMainWindow()
    window.setCentralWidget(PlaneViews(model, surface))
    window.setGeometry(0, 0, 1500, 950)
    window.show()
    model.set_image(image, labels.array, colors)

    def shoot(name: str) -> None:
        _settle(app)
        deadline = time.monotonic() + 30
        # the meshes are built in a worker thread: on a loaded machine that outlasts a fixed settle time
        while model.layout == "2x2" and surface.problem is None and not surface.items and time.monotonic() < deadline:
            _settle(app, 0.2)
        if model.layout == "2x2" and surface.gl is not None:
            surface.gl.repaint()  # the meshes may have arrived after the last frame was drawn
            _settle(app, 0.2)
        subprocess.run(["import", "-window", "root", str(out / f"{name}.png")], check=True)
        print(f"wrote {out / name}.png")

    def run() -> None:
        for layout, plane in (("2x2", None), ("1x3", None), ("1x1", "axial")):
            model.set_layout(layout, plane)
            if layout == "1x3":
                model.measure("coronal", (1.0, 60.0), (8.0, 200.0), "ruler")
            if layout == "1x1":
                row, col = model.crosshair_in("axial")
                model.measure("axial", (row - 20, col - 20), (row + 20, col + 20), "ellipse")
            shoot(f"viewer_{layout}")
        tmp = Path(tempfile.mkdtemp())
        write_acdc(tmp / "data", cases=6, seed=3, shape=(6, 96, 96))
        _perturbed_predictions(tmp / "data", tmp / "pred")
        panel = IndicesPanel()
        panel.set_report(acdc_indices(tmp / "data", tmp / "pred")[0])
        window.setCentralWidget(panel)
        shoot("viewer_indices_panel")
        app.quit()

    QTimer.singleShot(800, run)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
