"""The Label workspace: the viewer with its slice slider and status strip, driven by the tools dock, and the
assisted-labelling panel (smart fill, scribble, proposals, propagation) bound to one AssistModel per open case."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from sra_seg_core import annotation as ann
from sra_seg_core.assist.assistant import describe_model, latest_model
from sra_seg_core.project import SliceStatus
from sra_seg_app.widgets.assist_panel import AssistPanel
from sra_seg_app.widgets.canvas import SliceCanvas
from sra_seg_app.model.assist import AssistModel, Tool
from sra_seg_app.model.assistant import Assistant
from sra_seg_app.model.session import WindowLevel
from sra_seg_app.model.tools import ASSIST_TOOLS
from sra_seg_app.model.window_presets import PERCENTILE_PRESETS, preset_window, shown_preset
from sra_seg_app.model.worker import Worker
from sra_seg_app.widgets.slice_strip import SliceStrip, status_legend
from sra_seg_app.workspaces.label_views import LinkedViews

WINDOW_PERCENTILES = PERCENTILE_PRESETS
ACCEPT_TEXT = {Tool.SMART_FILL: "Smart fill", Tool.SCRIBBLE: "Scribble", Tool.PROPOSE: "Accept proposal",
               Tool.PROPAGATE: "Accept propagation"}


class LabelWorkspace(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.canvas = SliceCanvas(session)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Slice (wheel, PgUp/PgDn, ↑/↓)")
        self.slice_label = QLabel("–")
        self.slice_label.setMinimumWidth(90)
        self.strip = SliceStrip()
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.slice_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        # the canvas (the acquisition plane, which paints) sits in the linked views: 1×1, 1×3 planes, 2×2 with 3-D
        self.views = LinkedViews(session, self.canvas)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.strip)
        self.legend = status_legend()
        layout.addWidget(self.legend)
        layout.addLayout(row)
        self.assist: AssistModel | None = None
        self.assist_panel = AssistPanel([])
        self.assist_panel.accepted.connect(self._accept_edits)
        self.assist_panel.proposeRequested.connect(self.propose)
        self.assist_panel.propagateRequested.connect(self.propagate)
        self.assist_panel.uncertainty.toggled.connect(self.canvas.set_show_uncertainty)
        self.assist_panel.paint_over.setVisible(False)   # the tools' "Paint over other classes" decides
        self.canvas.acceptRequested.connect(self.assist_panel.accept)
        self.canvas.tools.changed.connect(self._tool_changed)
        self.preset: str | None = "Auto (1–99 %)"      # the window preset last chosen, "Custom" once changed
        self._preset_window: tuple[float, float] | None = None
        self._propose_worker: Worker | None = None
        self._model_worker: Worker | None = None
        self.assistant = Assistant(self)
        self.assist_panel.bind_assistant(self.assistant)
        self.assistant.finished.connect(lambda _run: self.find_model())
        session.projectChanged.connect(self._project_changed)
        session.statusChanged.connect(lambda _case: self.assistant.update(self.done_slices()))
        self.slider.valueChanged.connect(session.set_slice)
        self.strip.sliceClicked.connect(session.set_slice)
        self.canvas.wheelSlice.connect(session.step_slice)
        session.caseChanged.connect(self._case_changed)
        session.sliceChanged.connect(self._slice_changed)
        session.statusChanged.connect(lambda case: case == session.case_id and self._update_strip())

    def _case_changed(self, case_id: str) -> None:
        w = self.session.window   # a newly opened case shows the auto (1–99 %) window
        self.preset, self._preset_window = "Auto (1–99 %)", (w.low, w.high)
        self._bind_assist()
        image = self.session.image
        self.slider.blockSignals(True)
        self.slider.setRange(0, (image.shape[0] - 1) if image is not None else 0)
        self.slider.blockSignals(False)
        self._slice_changed(self.session.z)

    def _slice_changed(self, z: int) -> None:
        image = self.session.image
        self.slider.blockSignals(True)
        self.slider.setValue(z)
        self.slider.blockSignals(False)
        self.slice_label.setText(f"slice {z + 1} / {image.shape[0]}" if image is not None else "–")
        self.assist_panel.set_slice(z)
        self._update_strip()

    def _update_strip(self) -> None:
        self.strip.set_state(self.session.slice_status(), self.session.z)

    def _project_changed(self) -> None:
        p = self.session.project
        self.assistant.set_project(p.path if p else None, p.runs_dir if p and not p.read_only else None)
        if p is not None and not p.read_only:
            self.assistant.update(self.done_slices())

    def done_slices(self) -> int:
        """Slices marked done over the project's cases (what the assistant counts)."""
        s = self.session
        return sum(s.slice_status(c.id).count("d") for c in s.project.cases) if s.project else 0

    def activated(self) -> None:
        """Shown again (after Train, say): a model trained meanwhile becomes the proposer."""
        self.find_model()

    def shutdown(self) -> None:
        """The window closes: a running fine-tune stops (saving its latest.pt)."""
        self.assistant.stop()

    # --- assisted labelling ---------------------------------------------------------------------------------------
    def _bind_assist(self) -> None:
        """A new AssistModel for the open case (its image and live label volume), keeping the tool's settings."""
        s, old = self.session, self.assist
        if old is not None:
            old.cancel()
            old.wait()
        self.assist = None
        if s.image is not None and s.labels() is not None:
            self.assist = AssistModel(np.asarray(s.image.array, np.float32), s.labels(), self, background=True)
            self.assist.paint_over = self.canvas.overwrite
            if old is not None:
                self.assist.k, self.assist.three_d = old.k, old.three_d
                self.assist.set_model(old.model, old.model_info)
            self.assist.failed.connect(s.message)
            tool = self.canvas.tool
            if tool in ASSIST_TOOLS:
                self.assist.tool = Tool(tool)
            self.assist.settingsChanged.connect(self._assist_tool_changed)
        self.assist_panel.set_classes([c.name for c in s.project.classes] if s.project else [])
        self.assist_panel.bind(self.assist)
        self.canvas.set_assist(self.assist)
        self.find_model()

    def find_model(self) -> None:
        """Load the project's newest model (best.pt, or latest.pt of a run still training) for proposals, in a
        worker thread (torch loads in seconds); a model already loaded from that checkpoint is kept."""
        s, a = self.session, self.assist
        if a is None or s.project is None or self._model_worker is not None:
            return
        checkpoint = latest_model(s.project.runs_dir)
        if checkpoint is None or a.model_info.get("checkpoint") == str(checkpoint):
            return

        num_classes = s.project.num_classes

        def load(_w):
            from sra_seg_core.assist.propose import check_fits, load_proposer

            loaded = load_proposer(checkpoint, "cpu")
            check_fits(loaded, num_classes)
            return loaded, describe_model(checkpoint)

        worker = self._model_worker = Worker(load)

        def loaded(result):
            self._last_model_worker, self._model_worker = worker, None
            if self.assist is not None:
                self.assist.set_model(*result)
                self.session.message.emit(f"Proposals from {self.assist.status}")

        def failed(exc):
            self._last_model_worker, self._model_worker = worker, None
            self.session.message.emit(f"Cannot load the model {checkpoint} for proposals: {exc}")
        worker.done.connect(loaded)
        worker.failed.connect(failed)
        worker.start()

    def _tool_changed(self, name: str) -> None:
        """The canvas tool follows into the assist model (and a tool change drops a pending preview)."""
        a = self.assist
        if a is None:
            return
        if name == "overwrite":
            a.set_paint_over(self.canvas.overwrite)
        elif name == "tool":
            tool = self.canvas.tool
            if tool in ASSIST_TOOLS:
                a.set_tool(Tool(tool))
            else:
                a.cancel()

    def _assist_tool_changed(self) -> None:
        """The assist panel chose smart fill or scribble: the canvas tool follows."""
        a = self.assist
        if a is not None and a.tool.value in ASSIST_TOOLS and self.canvas.tool != a.tool.value:
            self.canvas.set_tool(a.tool.value)

    def _accept_edits(self, edits: list) -> None:
        text = ACCEPT_TEXT.get(self.assist.tool, "Assist") if self.assist is not None else "Assist"
        if self.session.commit(edits, text):
            self.session.message.emit(f"{text}: {len(edits)} slice(s) changed (one undo step).")

    def accept_or_close(self) -> None:
        """Enter: accept the assist preview when one shows, else close the polygon being drawn."""
        if self.assist is not None and self.assist.preview is not None:
            self.assist_panel.accept()
        else:
            self.canvas.close_polygon()

    def cancel(self) -> None:
        """Esc: drop the preview and the polygon, and give the keyboard back to the image."""
        if self.assist is not None:
            self.assist.cancel()
        self.canvas.cancel_polygon()
        self.canvas.setFocus()

    def propagate(self) -> None:
        """Propose the next slice from this one (the model when one is loaded, else shape propagation) and go there,
        so the ghost shows; Enter accepts it, and Propagate again goes on."""
        s, a = self.session, self.assist
        if a is None or s.image is None:
            return
        if not s.labels()[s.z].any():
            s.message.emit("Propagation needs labels on this slice.")
            return
        if s.z + 1 >= s.image.shape[0]:
            s.message.emit("This is the last slice: nothing to propagate to.")
            return
        source = s.z
        a.propagate_to(source, source + 1)
        s.set_slice(source + 1)
        self.canvas.refresh_ghost()

    def propose(self, whole_case: bool = False) -> None:
        """The model's proposal for this slice (or the case) in a worker thread; the preview shows when done."""
        a = self.assist
        if a is None or a.model is None or self._propose_worker is not None:
            return
        slices = None if whole_case else [self.session.z]
        from sra_seg_core.assist.propose import propose

        model, volume = a.model, a.volume
        worker = self._propose_worker = Worker(lambda _w: propose(model, volume, slices))

        def ended(error=None):
            # kept until the next proposal: a QThread must not die inside its own finished signal
            self._last_propose_worker, self._propose_worker = worker, None
            if error is not None:
                self.session.message.emit(f"Proposal failed: {error}")
        def show(proposal):
            ended()
            if self.assist is a:   # still the same case
                a.show_proposal(proposal)
        worker.done.connect(show)
        worker.failed.connect(ended)
        worker.start()
        self.session.message.emit("Proposing…")

    # --- actions from the tools dock and shortcuts -------------------------------------------------------------------
    def window_preset(self, name: str) -> None:
        if self.session.image is not None:
            window = preset_window(name, self.session.image.array)
            self.preset, self._preset_window = name, window
            self.session.set_window(WindowLevel(*window))

    def window_values(self, level: float, width: float) -> None:
        """Numbers typed into the level / width fields."""
        if self.session.image is not None:
            self.session.set_window(WindowLevel.from_center_width(level, width))

    def shown_preset(self) -> str:
        """What the preset box should say for the window now shown."""
        w = self.session.window
        return shown_preset(self.preset, self._preset_window, (w.low, w.high))

    def run_action(self, name: str) -> None:
        s = self.session
        if s.image is None:
            return
        if name in ("done", "progress", "flag", "clear-status"):
            status = {"done": SliceStatus.DONE, "progress": SliceStatus.IN_PROGRESS, "flag": SliceStatus.FLAGGED,
                      "clear-status": SliceStatus.NOT_STARTED}[name]
            s.set_status(status)
        elif name == "next-unlabelled":
            z = ann.next_unlabelled(s.slice_status(), s.z)
            if z is None:
                s.message.emit("Every slice of this case is done.")
            else:
                s.set_slice(z)
        elif name in ("copy-prev", "copy-next"):
            source = s.z - 1 if name == "copy-prev" else s.z + 1
            if 0 <= source < s.image.shape[0] and s.can_edit():
                if not s.commit([ann.copy_slice(s.labels(), source, s.z)], f"Copy from slice {source + 1}"):
                    s.message.emit("Nothing to copy: the slices are identical.")
        elif name == "interpolate":
            self.interpolate()

    def interpolate(self) -> None:
        """Fill the slices between the nearest labelled slice above and below the current one (or the gap the
        current slice starts, when it is labelled)."""
        s = self.session
        if not s.can_edit():
            return
        labelled = np.flatnonzero(s.labels().reshape(s.image.shape[0], -1).any(axis=1))
        below, above = labelled[labelled < s.z], labelled[labelled > s.z]
        if s.z in labelled:
            below = np.array([s.z])
        if not len(below) or not len(above):
            s.message.emit("Interpolation needs a labelled slice on each side of this one.")
            return
        z_a, z_b = int(below.max()), int(above.min())
        edits = ann.interpolate_slices(s.labels(), z_a, z_b, spacing_zyx=s.image.spacing_zyx)
        if s.commit(edits, f"Interpolate slices {z_a + 1}–{z_b + 1}"):
            s.message.emit(f"Interpolated {len(edits)} slice(s) between {z_a + 1} and {z_b + 1}.")
        else:
            s.message.emit("Nothing to interpolate: the slices in between are already labelled.")
