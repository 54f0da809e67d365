"""The EMA teacher update: teacher <- decay * teacher + (1 - decay) * student, every iteration.

The teacher's weights are the exponential moving average of the student's, including the BatchNorm running
statistics, as the reference's ``update_model_ema`` does over the whole ``state_dict``. Integer buffers (BatchNorm's
``num_batches_tracked``) are copied from the student, where the reference blends and truncates them: they count
batches and change nothing the network computes (BatchNorm's momentum is fixed at 0.1). :class:`EmaUpdater` collects the tensor lists once, so an update is two
multi-tensor kernels (``_foreach_lerp_``, ``_foreach_copy_``) and no per-iteration ``state_dict`` walk.
"""

from __future__ import annotations

import torch


class EmaUpdater:
    """EMA of ``student`` into ``teacher`` over cached parameter and buffer lists.

    The lists hold the modules' own tensors: build the updater after both models are on their device (``.to()``
    replaces buffers), and again if a model is rebuilt. ``load_state_dict`` copies in place and keeps them valid.
    """

    def __init__(self, teacher: torch.nn.Module, student: torch.nn.Module):
        t_state, s_state = teacher.state_dict(keep_vars=True), student.state_dict(keep_vars=True)
        floats = [k for k, v in t_state.items() if v.is_floating_point()]
        others = [k for k, v in t_state.items() if not v.is_floating_point()]
        self.teacher_floats = [t_state[k].detach() for k in floats]
        self.student_floats = [s_state[k].detach() for k in floats]
        self.teacher_others = [t_state[k].detach() for k in others]
        self.student_others = [s_state[k].detach() for k in others]

    @torch.no_grad()
    def update(self, decay: float) -> None:
        torch._foreach_lerp_(self.teacher_floats, self.student_floats, 1.0 - decay)
        if self.teacher_others:
            torch._foreach_copy_(self.teacher_others, self.student_others)


def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, decay: float = 0.99) -> None:
    """One EMA step without a cached updater (the app's and tests' one-off use); the trainer keeps an
    :class:`EmaUpdater`."""
    EmaUpdater(teacher, student).update(decay)
