"""The batched reference augmentation: exact quarter turns and flips, label-safe rotations, seeded."""

import math

import pytest
import torch

from sra_seg_core.augment import augment_matrices, random_augment


def _batch(n=32, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g), torch.randint(0, 4, (n, size, size), generator=g)


def _reflections(x):
    """The reference's rot_flip outcomes: np.flip(np.rot90(x, k), axis) for every k and axis."""
    return [torch.flip(torch.rot90(x, k, dims=(-2, -1)), dims=(axis - 2,)) for k in range(4) for axis in range(2)]


def _matching_candidate(out, candidates, b):
    return next((i for i, c in enumerate(candidates) if torch.equal(out[b], c[b])), None)


@pytest.mark.parametrize("size", [16, 31, 256])
def test_quarter_turn_and_flip_equal_torch_rot90_and_flip_exactly(size):
    images, labels = _batch(n=16, size=size)
    out, out_labels = random_augment(images, labels, generator=torch.Generator().manual_seed(1), p_rot_flip=1.0)
    image_candidates, label_candidates = _reflections(images), _reflections(labels)
    for b in range(len(images)):
        match = _matching_candidate(out, image_candidates, b)
        assert match is not None, f"sample {b} is not a bit-exact rot90 + flip"
        assert torch.equal(out_labels[b], label_candidates[match][b])


def test_rot_flip_branch_reaches_all_four_reflections():
    images, _ = _batch(n=200)
    out, _ = random_augment(images, None, generator=torch.Generator().manual_seed(2), p_rot_flip=1.0)
    candidates = _reflections(images)
    # flip(rot90(x, k), 1) == flip(rot90(x, k + 2), 0): the eight draws give four distinct reflections, the first
    # four candidates.
    assert {_matching_candidate(out, candidates, b) for b in range(len(images))} == {0, 1, 2, 3}


def test_no_augmentation_returns_input_unchanged():
    images, labels = _batch()
    out, out_labels = random_augment(images, labels, generator=torch.Generator().manual_seed(3), p_rot_flip=0.0,
                                     p_rotate=0.0)
    assert torch.equal(out, images) and torch.equal(out_labels, labels)


def test_rotation_keeps_label_values_and_dtype():
    images, labels = _batch(size=32)
    labels = labels * 2 + 1  # values {1, 3, 5, 7}; zero padding may add 0
    _, out_labels = random_augment(images, labels, generator=torch.Generator().manual_seed(4), p_rot_flip=0.0,
                                   p_rotate=1.0)
    assert out_labels.dtype == torch.int64
    assert set(out_labels.unique().tolist()) <= {0, 1, 3, 5, 7}


def test_rotation_interpolates_images_and_pads_with_zeros():
    images = torch.ones(8, 1, 32, 32)
    out, _ = random_augment(images, None, generator=torch.Generator().manual_seed(5), p_rot_flip=0.0, p_rotate=1.0,
                            max_angle=20.0)
    corners = out[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners < 1).all() and out.min() >= 0
    assert torch.allclose(out[:, :, 12:20, 12:20], torch.ones(1))  # the centre stays inside the image


def test_rotation_angles_stay_within_max_angle():
    theta, interpolated = augment_matrices(500, 64, 64, generator=torch.Generator().manual_seed(6), p_rot_flip=0.0,
                                           p_rotate=1.0, max_angle=20.0)
    angles = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 0, 0]))
    assert interpolated.all()
    assert angles.abs().max() <= 20.0 + 1e-4
    assert angles.min() < -15 and angles.max() > 15  # uniform over the range, not a fixed angle


def test_rotated_point_moves_by_the_drawn_angle():
    size, radius = 65, 20
    centre = size // 2
    images = torch.zeros(1, 1, size, size)
    images[0, 0, centre, centre + radius] = 1.0  # a point to the right of the centre
    theta, _ = augment_matrices(1, size, size, generator=torch.Generator().manual_seed(7), p_rot_flip=0.0, p_rotate=1.0)
    out, _ = random_augment(images, None, generator=torch.Generator().manual_seed(7), p_rot_flip=0.0, p_rotate=1.0)
    row, col = divmod(int(out[0, 0].argmax()), size)
    moved = math.degrees(math.atan2(row - centre, col - centre))
    drawn = math.degrees(math.atan2(theta[0, 1, 0], theta[0, 0, 0]))
    assert abs(drawn) > 2.0
    assert moved == pytest.approx(-drawn, abs=3.0)  # theta maps output to input, so the content turns by -angle


def test_branch_frequencies_follow_the_reference():
    theta, interpolated = augment_matrices(4000, 8, 8, generator=torch.Generator().manual_seed(8))
    identity = (theta == torch.tensor([[1.0, 0, 0], [0, 1, 0]])).all(dim=(1, 2))
    rot_flip = ~identity & ~interpolated
    assert rot_flip.float().mean() == pytest.approx(0.5, abs=0.03)
    assert interpolated.float().mean() == pytest.approx(0.25, abs=0.03)
    assert identity.float().mean() == pytest.approx(0.25, abs=0.03)


def test_same_seed_gives_same_batch_and_different_seed_differs():
    images, labels = _batch()
    a = random_augment(images, labels, generator=torch.Generator().manual_seed(9))
    b = random_augment(images, labels, generator=torch.Generator().manual_seed(9))
    c = random_augment(images, labels, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_half_precision_images_keep_their_dtype_and_exact_turns():
    images, _ = _batch(n=8, size=64)
    images = images.to(torch.bfloat16)
    out, _ = random_augment(images, None, generator=torch.Generator().manual_seed(11), p_rot_flip=1.0)
    assert out.dtype == torch.bfloat16
    candidates = _reflections(images)
    assert all(_matching_candidate(out, candidates, b) is not None for b in range(len(images)))


def test_quarter_turns_refuse_non_square_images():
    with pytest.raises(ValueError, match="square"):
        random_augment(torch.zeros(2, 1, 8, 12), None, generator=torch.Generator().manual_seed(0))


def test_non_square_rotation_is_rigid_in_pixels():
    # A 20-degree turn must keep the distance of a point to the centre, whatever the aspect ratio.
    height, width, radius = 41, 81, 15
    images = torch.zeros(1, 1, height, width)
    images[0, 0, height // 2, width // 2 + radius] = 1.0
    out, _ = random_augment(images, None, generator=torch.Generator().manual_seed(12), p_rot_flip=0.0, p_rotate=1.0)
    rows, cols = torch.nonzero(out[0, 0] > 0, as_tuple=True)
    weights = out[0, 0][rows, cols]
    r = (weights * rows).sum() / weights.sum() - height // 2
    c = (weights * cols).sum() / weights.sum() - width // 2
    assert float(torch.hypot(r, c)) == pytest.approx(radius, abs=0.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_generator_augments_on_the_device_exactly_and_reproducibly():
    images, labels = _batch(n=16, size=64)
    images, labels = images.cuda(), labels.cuda()
    out, out_labels = random_augment(images, labels, generator=torch.Generator("cuda").manual_seed(13), p_rot_flip=1.0)
    again, _ = random_augment(images, labels, generator=torch.Generator("cuda").manual_seed(13), p_rot_flip=1.0)
    assert out.device.type == "cuda" and torch.equal(out, again)
    image_candidates, label_candidates = _reflections(images), _reflections(labels)
    for b in range(len(images)):
        match = _matching_candidate(out, image_candidates, b)
        assert match is not None and torch.equal(out_labels[b], label_candidates[match][b])
