"""State and rules of the assisted-labelling tools in the Label and Review workspaces (no widgets).

One :class:`AssistModel` per open case: the current tool and its settings, the scribbles drawn so far, the live
preview (a label map the canvas draws as a ghost layer) and, for model proposals, the uncertainty map. Every tool
only changes the preview; :meth:`AssistModel.accept` turns it into the list of per-slice
:class:`~sra_seg_core.annotation.SliceEdit` s the caller pushes as ONE undo step, and :meth:`AssistModel.cancel`
drops it. The pixel work is the engine's (:mod:`sra_seg_core.assist`); this module only decides what to run when.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Signal

from sra_seg_core.annotation import SliceEdit
from sra_seg_core.assist.propagate import propagate
from sra_seg_core.assist.propose import Proposal, accept_classes, propose
from sra_seg_core.assist.scribble import BACKGROUND, ScribbleSegmenter
from sra_seg_core.assist.smart_fill import DEFAULT_K, preview_edits, smart_fill_preview
from sra_seg_app.model.worker import Worker

K_RANGE = (0.2, 6.0)      # smart-fill tolerance in local standard deviations (slider / wheel)
K_WHEEL_STEP = 1.15       # one wheel notch scales k by this


class Tool(str, Enum):
    SMART_FILL = "smart_fill"
    SCRIBBLE = "scribble"
    PROPOSE = "propose"
    PROPAGATE = "propagate"


class AssistModel(QObject):
    """Assisted labelling on one case: ``volume`` (Z, Y, X) image and ``labels`` (Z, Y, X) uint8 (read, not edited).

    Signals: ``previewChanged`` when the ghost layer changes (None = nothing to show), ``settingsChanged`` when the
    tool, k, 3-D or paint-over change, ``sourceChanged`` when the proposing model changes.
    """

    previewChanged = Signal()
    settingsChanged = Signal()
    sourceChanged = Signal()
    busyChanged = Signal(bool)        # a scribble segmentation is being computed off the GUI thread
    failed = Signal(str)              # a background segmentation raised: why

    def __init__(self, volume: np.ndarray, labels: np.ndarray, parent=None, *, background: bool = False):
        """``background``: segment scribbles in a worker thread (the app: a 512² update takes ~1 s on two cores and
        must not freeze the window); strokes drawn meanwhile are folded into one more run when it ends."""
        super().__init__(parent)
        if volume.shape != labels.shape or volume.ndim != 3:
            raise ValueError(f"volume {volume.shape} and labels {labels.shape} must be the same (Z, Y, X) shape")
        self.volume, self.labels = volume, labels
        self.tool = Tool.SCRIBBLE
        self.k = DEFAULT_K
        self.three_d = False
        self.paint_over = False
        self.scribbles = np.zeros(labels.shape, np.uint8)
        self.preview: np.ndarray | None = None          # (Z, Y, X) uint8 proposed labels where ``preview_mask``
        self.preview_mask: np.ndarray | None = None     # (Z, Y, X) bool: the pixels the preview would write
        self.uncertainty: np.ndarray | None = None      # (Z, Y, X) float32 in [0, 1], proposals only
        self.model = None                               # a LoadedModel, or None
        self.model_info: dict = {}
        self._fill_seed: tuple[tuple[int, int, int], int] | None = None
        self._segmenters: dict[bool, ScribbleSegmenter] = {}
        self._proposal = None
        self.background = background
        self._worker: Worker | None = None
        self._stale = False          # scribbles changed while the worker ran: segment again when it ends
        self._generation = 0         # bumped by accept / cancel: a late result of an older generation is dropped

    @property
    def busy(self) -> bool:
        return self._worker is not None

    # --- settings -------------------------------------------------------------------------------------------------
    def set_tool(self, tool: Tool | str) -> None:
        tool = Tool(tool)
        if tool != self.tool:
            self.cancel()
            self.tool = tool
            self.settingsChanged.emit()

    def set_k(self, k: float) -> None:
        """Change the smart-fill tolerance; a fill being previewed is grown again with it (live preview)."""
        k = float(min(max(k, K_RANGE[0]), K_RANGE[1]))
        if k == self.k:
            return
        self.k = k
        self.settingsChanged.emit()
        if self._fill_seed is not None:
            self._grow(*self._fill_seed)

    def wheel(self, notches: int) -> None:
        """Mouse wheel over the canvas while a fill is previewed: scale k (up = wider)."""
        self.set_k(self.k * K_WHEEL_STEP ** notches)

    def set_three_d(self, on: bool) -> None:
        if bool(on) != self.three_d:
            self.three_d = bool(on)
            self.settingsChanged.emit()
            self._refresh()

    def set_paint_over(self, on: bool) -> None:
        if bool(on) != self.paint_over:
            self.paint_over = bool(on)
            self.settingsChanged.emit()
            self._refresh()

    def set_model(self, model, info: dict | None = None) -> None:
        """The model proposals and propagation use (a LoadedModel), with what the panel says about it."""
        self.model, self.model_info = model, dict(info or {})
        self.sourceChanged.emit()

    # --- tools ----------------------------------------------------------------------------------------------------
    def fill_click(self, seed_zyx: tuple[int, int, int], value: int) -> None:
        """Smart fill from a click: show its preview (commit with :meth:`accept`)."""
        self._fill_seed = (tuple(int(v) for v in seed_zyx), int(value))
        self._grow(*self._fill_seed)

    def add_scribble(self, z: int, indices: np.ndarray, value: int) -> None:
        """A stroke on slice ``z``: flat (Y, X) ``indices`` of class ``value`` (0 = background); the preview updates."""
        self.scribbles[z].flat[np.asarray(indices, np.int64)] = BACKGROUND if value == 0 else value
        self._segment()

    def clear_scribbles(self) -> None:
        self.scribbles[:] = 0
        self._generation += 1
        self._set_preview(None, None)

    def propose(self, slices: list[int] | None) -> None:
        """The model's proposal for ``slices`` (None: the whole case) as the preview, with its uncertainty."""
        if self.model is None:
            raise RuntimeError("no model to propose with: train a run first (or pick one)")
        self.show_proposal(propose(self.model, self.volume, slices))

    def show_proposal(self, proposal: Proposal) -> None:
        """Show a proposal computed elsewhere (the app runs the model in a worker thread) as the preview."""
        preview = np.zeros(self.labels.shape, np.uint8)
        mask = np.zeros(self.labels.shape, bool)
        uncertainty = np.zeros(self.labels.shape, np.float32)
        zs = list(proposal.slices)
        preview[zs], mask[zs], uncertainty[zs] = proposal.labels, True, proposal.uncertainty
        self._set_preview(preview, mask, proposal, uncertainty)

    def propagate_to(self, source_z: int, target_z: int) -> None:
        """Propose slice ``target_z`` from ``source_z`` (the model when one is set, else shape propagation)."""
        result = propagate(self.volume, self.labels, source_z, target_z, model=self.model)
        preview = np.zeros(self.labels.shape, np.uint8)
        mask = np.zeros(self.labels.shape, bool)
        preview[target_z], mask[target_z] = result.labels, True
        shape = (1, 1, *result.labels.shape)
        proposal = Proposal((target_z,), np.zeros(shape, np.float32), result.labels[None],
                            np.zeros(shape[1:], np.float32), result.source)
        self._set_preview(preview, mask, proposal)

    # --- commit ---------------------------------------------------------------------------------------------------
    def accept(self, classes: list[int] | None = None) -> list[SliceEdit]:
        """The edits that commit the preview (only ``classes`` of it when given; all when None), as one undo step.

        The preview, the scribbles and the fill seed are cleared; the caller applies and pushes the edits.
        """
        if self.preview is None:
            return []
        if self._proposal is not None:  # a model's or a propagated slice: replace the accepted classes' layers
            edits = accept_classes(self.labels, self._proposal, classes)
        else:
            where = self.preview_mask if classes is None else self.preview_mask & np.isin(self.preview, classes)
            edits = preview_edits(self.labels, where, self.preview)
        self.scribbles[:] = 0
        self._fill_seed = None
        self._generation += 1
        self._set_preview(None, None)
        return edits

    def cancel(self) -> None:
        """Drop the preview, the scribbles and the fill seed (Esc)."""
        self.scribbles[:] = 0
        self._fill_seed = None
        self._generation += 1
        self._set_preview(None, None)

    @property
    def status(self) -> str:
        """One line for the panel: which model proposes and from how many labelled slices."""
        if self.model is None:
            return "No model yet: propagation follows the image; train a run (or let the assistant) to propose."
        info = self.model_info
        text = f"Model {info.get('run', '?')}"
        if info.get("labelled_slices") is not None:
            text += f", learnt from {info['labelled_slices']} labelled slices"
        if isinstance(info.get("best_dice"), (int, float)):
            text += f", validation Dice {100 * info['best_dice']:.1f} %"
        return text

    # --- internals ------------------------------------------------------------------------------------------------
    def _grow(self, seed, value) -> None:
        fill = smart_fill_preview(self.volume, self.labels, seed, value=value, k=self.k,
                                  paint_over=self.paint_over, three_d=self.three_d)
        preview = np.zeros(self.labels.shape, np.uint8)
        preview[fill.mask] = value
        self._set_preview(preview, fill.mask)

    def _segment(self) -> None:
        if not self.scribbles.any():
            self._set_preview(None, None)
            return
        if not self.background:
            self._set_preview(*self._segmentation(self.scribbles.copy(), self.three_d))
            return
        if self._worker is not None:
            self._stale = True
            return
        scribbles, three_d, generation = self.scribbles.copy(), self.three_d, self._generation
        self._worker = Worker(lambda _w: self._segmentation(scribbles, three_d))
        self._worker.done.connect(lambda result: self._segmented(result, generation))
        self._worker.failed.connect(lambda exc: self._segmented(None, generation, exc))
        self._worker.start()
        self.busyChanged.emit(True)

    def _segmented(self, result, generation: int, error: BaseException | None = None) -> None:
        # kept (not deleted) until the next run: a QThread must not die inside its own finished signal
        self._worker.wait()
        self._last_worker, self._worker = self._worker, None
        if error is not None:
            self.failed.emit(f"Scribble segmentation failed: {error}")
        elif self._stale:
            self._stale = False
            self._segment()
            return
        elif generation == self._generation and self.tool == Tool.SCRIBBLE and self.scribbles.any():
            self._set_preview(*result)
        self.busyChanged.emit(False)

    def wait(self) -> None:
        """Block until a background segmentation (and any re-run it queued) has been shown (tests, closing)."""
        while self._worker is not None:
            self._worker.wait()
            QCoreApplication.processEvents()

    def _segmentation(self, scribbles: np.ndarray, three_d: bool) -> tuple[np.ndarray, np.ndarray]:
        """(labels, mask) of the scribbles' segmentation: pure given its inputs, so a worker thread may run it."""
        segmenter = self._segmenters.get(three_d)
        if segmenter is None:
            segmenter = self._segmenters[three_d] = ScribbleSegmenter(self.volume, three_d=three_d)
        labels = segmenter.segment(scribbles).labels
        zs = slice(None) if three_d else np.flatnonzero(scribbles.reshape(self.labels.shape[0], -1).any(1))
        mask = np.zeros(self.labels.shape, bool)
        mask[zs] = True
        if not self.paint_over:  # other classes already labelled stay as they are
            mask &= (self.labels == 0) | (self.labels == labels)
        return labels, mask

    def _refresh(self) -> None:
        if self.tool == Tool.SMART_FILL and self._fill_seed is not None:
            self._grow(*self._fill_seed)
        elif self.tool == Tool.SCRIBBLE and self.scribbles.any():
            self._segment()

    def _set_preview(self, preview, mask, proposal=None, uncertainty=None) -> None:
        """Show a new preview; ``proposal`` is set for whole-slice proposals, accepted by replacing class layers."""
        self.preview, self.preview_mask = preview, mask
        self._proposal, self.uncertainty = proposal, uncertainty
        self.previewChanged.emit()
