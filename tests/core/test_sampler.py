"""The run's batch indices, drawn once on the device: the same as chunking per-epoch permutations on demand."""

import pytest
import torch

from sra_seg_core.trainer import EpochSampler


def on_demand(n, per_batch, seed, iteration):
    """Iteration i's indices as consecutive chunks of epoch e's permutation (seed * 1000003 + e)."""
    start, out = iteration * per_batch, []
    for position in range(start, start + per_batch):
        epoch, offset = divmod(position, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        out.append(int(perm[offset]))
    return out


@pytest.mark.parametrize("n,per_batch", [(7, 3), (12, 4), (5, 6)])
def test_precomputed_indices_are_the_epoch_chunks(n, per_batch):
    sampler = EpochSampler(n, per_batch, 1337, torch.device("cpu"), iterations=9)
    for i in range(9):
        assert sampler.indices(i).tolist() == on_demand(n, per_batch, 1337, i)


def test_every_slice_appears_once_per_epoch():
    sampler = EpochSampler(10, 5, 3, torch.device("cpu"), iterations=4)
    first_epoch = torch.cat([sampler.indices(0), sampler.indices(1)])
    assert sorted(first_epoch.tolist()) == list(range(10))


def test_an_iteration_outside_the_run_is_an_error():
    sampler = EpochSampler(10, 5, 3, torch.device("cpu"), iterations=4)
    with pytest.raises(IndexError):
        sampler.indices(4)
