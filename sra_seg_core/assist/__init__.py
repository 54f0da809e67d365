"""Assisted labelling: tools that turn a few clicks or strokes into labels, all Qt-free.

- :mod:`.smart_fill`: region growing from a click, bounded by intensity, with a preview mask.
- :mod:`.scribble`: scribbles per class (and background) -> the label map of a slice or a volume (seeded watershed).
- :mod:`.propose`: a trained run's per-class probabilities, argmax proposal and uncertainty; accept per class.
- :mod:`.propagate`: the next slice's labels from the current one (a model, or the label refined by the intensities).
- :mod:`.assistant`: when and how a short background fine-tune on the project's done slices runs.

Every tool returns a preview (a mask or a label map) and leaves the label volume alone; turning a preview into
:class:`~sra_seg_core.annotation.SliceEdit` s is a separate call, so the app can show the preview live and commit it
as one undo step.
"""
