"""Screenshots of the Label workspace's layouts in the real app on the demo project (1x1, 1x3, 2x2 with the 3-D
view, a ruler measurement, the Label statistics and Cardiac indices docks). Needs an X display with OpenGL:

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/app_screenshots.py OUT_DIR

The demo project is made in a temporary user data folder (XDG_DATA_HOME / SRA_SEG_DATA_DIR), never the real one.
ImageMagick's ``import`` grabs the screen, so the OpenGL view is captured as drawn.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _settle(app, seconds=0.6):
    for _ in range(40):
        app.processEvents()
    time.sleep(seconds)
    for _ in range(40):
        app.processEvents()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = tempfile.mkdtemp(prefix="sra-seg-shots-")
    os.environ["XDG_DATA_HOME"] = data
    os.environ["SRA_SEG_DATA_DIR"] = str(Path(data) / "sra-seg")
    os.environ["SRA_SEG_CONFIG_DIR"] = str(Path(data) / "config")
    from PySide6.QtWidgets import QApplication

    from sra_seg_app.main_window import MainWindow
    from sra_seg_app.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app)
    window = MainWindow()
    window.setGeometry(0, 0, 1600, 1000)
    window.show()
    if not window.open_demo():
        print("the demo project could not be opened", file=sys.stderr)
        return 1
    session = window.session
    session.select_case("patient001_frame01")
    session.set_slice(5)
    views = window.label_ws.views
    _settle(app)

    def shot(name: str) -> None:
        _settle(app)
        path = out / f"{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True)
        print(f"wrote {path}")

    for layout in ("1x1", "1x3", "2x2"):
        views.set_layout(layout)
        if layout == "2x2":
            _settle(app)  # the GL view is made once the 3-D cell has been shown
            views.surface.refresh(background=False)
        shot(f"label_{layout}")
    views.set_layout("1x3")
    views.set_tool("ruler")
    plane = next(p for p in views.model.planes if views.model.can_paint(p))
    views.model.measure(plane, (60, 80), (140, 170))
    shot("label_1x3_ruler")
    views.set_tool("ellipse")
    views.model.measure(plane, (70, 90), (130, 160))
    shot("label_1x3_ellipse")
    views.set_tool("crosshair")
    window.act_stats.trigger()
    window.act_indices.trigger()
    panel = window.indices
    panel.ed_box.setCurrentText("patient001_frame01")
    panel.es_box.setCurrentText("patient001_frame09")
    panel.pair_button.click()
    shot("label_docks")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
