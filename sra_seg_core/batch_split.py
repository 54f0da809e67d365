"""How one global batch is shared by the processes of a torchrun job — the rule alone, without torch, so that the app
can check a GPU count before it starts anything (the trainer applies the same rule through
:meth:`sra_seg_core.distributed.Context.check_batch`).

Each of the W processes takes ``n/W`` rows of each half (a and b) of the labelled part and of the unlabelled part of
the batch, so every half must divide by W: the default 24 = 12 labelled (6 + 6) + 12 synthetic (6 + 6) splits over
1, 2, 3 or 6 processes, not over 4.
"""

from __future__ import annotations

from sra_seg_core.errors import ConfigError


def batch_parts(config) -> tuple[int, int]:
    """(labelled, unlabelled) slices of a RunConfig's global batch; a one-stage method has no unlabelled part."""
    labeled = config.labeled_batch
    return labeled, (config.train.batch_size - labeled if config.two_stage else 0)


def halves(labeled: int, unlabeled: int) -> list[int]:
    """The slices in each half of each part (a labelled half, and an unlabelled half when there is one)."""
    return [labeled // 2] + ([unlabeled // 2] if unlabeled else [])


def splits_evenly(labeled: int, unlabeled: int, world_size: int) -> bool:
    """Whether ``world_size`` processes can share each half of the batch equally."""
    return world_size >= 1 and not any(h % world_size for h in halves(labeled, unlabeled))


def check_split(labeled: int, unlabeled: int, world_size: int) -> None:
    """Refuse (ConfigError) a world size that cannot split each half of the labelled and unlabelled batch evenly."""
    if world_size <= 1 or splits_evenly(labeled, unlabeled, world_size):
        return
    per_half = " and ".join(str(h) for h in halves(labeled, unlabeled))
    raise ConfigError(
        f"batch {labeled + unlabeled} ({labeled} labelled + {unlabeled} unlabelled) cannot be split over "
        f"{world_size} processes: each half of each part ({per_half} slices) must divide by the world "
        f"size; choose --batch-size as a multiple of {4 * world_size} or change --nproc_per_node")
