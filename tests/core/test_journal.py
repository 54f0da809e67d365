"""The stroke journal keeps every completed stroke through a crash, and never replays strokes onto the wrong label."""

import numpy as np
import pytest

from sra_seg_core.project.journal import NO_BASE, Journal, Stroke, encode_stroke, file_digest, read_journal, replay

SHAPE = (3, 16, 20)


def random_strokes(n, seed=0, shape=SHAPE):
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(n):
        idx = rng.choice(shape[1] * shape[2], size=int(rng.integers(1, 60)), replace=False)
        strokes.append(Stroke(int(rng.integers(shape[0])), idx, rng.integers(0, 4, idx.size, np.uint8),
                              rng.integers(0, 4, idx.size, np.uint8)))
    return strokes


def painted(strokes, shape=SHAPE):
    label = np.zeros(shape, np.uint8)
    for s in strokes:
        label[s.z].reshape(-1)[s.indices] = s.new
    return label


def write(path, strokes, base=NO_BASE):
    journal = Journal(path)
    for s in strokes:
        journal.append(s, base=lambda: base)
    return journal


def test_strokes_read_back_identical(tmp_path):
    strokes = random_strokes(5)
    write(tmp_path / "c.journal", strokes)
    back = Journal(tmp_path / "c.journal").strokes(NO_BASE)
    assert len(back) == 5
    for a, b in zip(strokes, back):
        assert a.z == b.z
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.old, b.old)
        np.testing.assert_array_equal(a.new, b.new)


def test_replay_applies_new_values_in_order(tmp_path):
    strokes = random_strokes(30, seed=1)
    write(tmp_path / "c.journal", strokes)
    label = np.zeros(SHAPE, np.uint8)
    replay(label, Journal(tmp_path / "c.journal").strokes(NO_BASE))
    np.testing.assert_array_equal(label, painted(strokes))


def test_undo_is_a_stroke_with_old_and_new_swapped(tmp_path):
    stroke = random_strokes(1, seed=2)[0]
    stroke = Stroke(stroke.z, stroke.indices, np.zeros_like(stroke.old), stroke.new)
    write(tmp_path / "c.journal", [stroke, Stroke(stroke.z, stroke.indices, stroke.new, stroke.old)])
    label = np.zeros(SHAPE, np.uint8)
    replay(label, Journal(tmp_path / "c.journal").strokes(NO_BASE))
    assert not label.any()


@pytest.mark.parametrize("cut", [1, 10, 19, 25])
def test_torn_last_record_is_ignored(tmp_path, cut):
    path = tmp_path / "c.journal"
    strokes = random_strokes(4, seed=3)
    write(path, strokes)
    path.write_bytes(path.read_bytes()[:-cut])  # a crash in the middle of writing the last record
    contents = read_journal(path)
    assert len(contents.strokes) == 3
    assert contents.ignored_bytes > 0


def test_corrupted_last_record_is_ignored(tmp_path):
    path = tmp_path / "c.journal"
    write(path, random_strokes(3, seed=4))
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    assert len(Journal(path).strokes(NO_BASE)) == 2


def test_append_after_a_torn_record_lands_where_it_can_be_read(tmp_path):
    path = tmp_path / "c.journal"
    strokes = random_strokes(4, seed=5)
    write(path, strokes[:3])
    path.write_bytes(path.read_bytes()[:-7])
    write(path, strokes[3:])  # a new session: the torn tail is cut before appending
    back = Journal(path).strokes(NO_BASE)
    assert len(back) == 3
    np.testing.assert_array_equal(back[-1].indices, strokes[3].indices)


def test_journal_with_another_base_is_not_replayed(tmp_path):
    write(tmp_path / "c.journal", random_strokes(2), base=b"a" * 32)
    assert Journal(tmp_path / "c.journal").strokes(b"b" * 32) == []


def test_stale_journal_is_restarted_on_first_append(tmp_path):
    path = tmp_path / "c.journal"
    write(path, random_strokes(2), base=b"a" * 32)
    fresh = random_strokes(1, seed=9)
    write(path, fresh, base=b"b" * 32)
    back = Journal(path).strokes(b"b" * 32)
    assert len(back) == 1
    np.testing.assert_array_equal(back[0].indices, fresh[0].indices)


def test_clear_removes_the_file(tmp_path):
    journal = write(tmp_path / "c.journal", random_strokes(1))
    journal.clear()
    assert not journal.path.exists()
    assert journal.strokes(NO_BASE) == []


def test_a_file_without_a_valid_header_holds_no_strokes(tmp_path):
    path = tmp_path / "c.journal"
    path.write_bytes(b"SRAJ")
    assert read_journal(path) is None


def test_replay_rejects_a_stroke_outside_the_label():
    stroke = Stroke(0, np.array([SHAPE[1] * SHAPE[2]]), np.zeros(1, np.uint8), np.ones(1, np.uint8))
    with pytest.raises(ValueError, match="does not fit"):
        replay(np.zeros(SHAPE, np.uint8), [stroke])


def test_file_digest_tells_files_apart(tmp_path):
    (tmp_path / "a").write_bytes(b"one")
    (tmp_path / "b").write_bytes(b"two")
    assert file_digest(tmp_path / "a") != file_digest(tmp_path / "b")
    assert file_digest(tmp_path / "missing") == NO_BASE


def test_a_50k_pixel_brush_stroke_is_compact():
    yy, xx = np.mgrid[:512, :512]
    disc = np.flatnonzero((yy - 256) ** 2 + (xx - 256) ** 2 < 126**2)  # about 50 000 pixels
    assert 49_000 < disc.size < 51_000
    record = encode_stroke(Stroke(0, disc, np.zeros(disc.size, np.uint8), np.full(disc.size, 2, np.uint8)))
    assert len(record) < 4_000  # raw (index, old, new) would be 6 bytes a pixel: 300 kB


def test_pending_strokes_counts_what_a_reopen_will_recover(tmp_path):
    import numpy as np

    from sra_seg_core.image import Image
    from sra_seg_core.io import write_image
    from sra_seg_core.project import Project

    source = write_image(Image(np.zeros((2, 8, 8), np.int16)), tmp_path / "img.nii.gz")
    with Project.create(tmp_path / "p") as project:
        case = project.import_image(source)
        assert project.pending_strokes(case.id) == 0
        for k in range(3):
            project.append_stroke(case.id, 0, np.array([k]), np.array([0], np.uint8), np.array([1], np.uint8))
        assert project.pending_strokes(case.id) == 3
        project.save_label(case.id, project.read_label(case.id).array)
        assert project.pending_strokes(case.id) == 0
