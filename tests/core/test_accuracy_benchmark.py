"""The evidence benchmark's bookkeeping, without training: GPU scheduling, paired statistics, which runs are shared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy_phantom.py"
_spec = importlib.util.spec_from_file_location("accuracy_phantom", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


class FakeRun:
    """A process stand-in that finishes after ``polls`` calls of poll()."""

    def __init__(self, log, job, slot, polls):
        self.log, self.job, self.slot, self.left = log, job, slot, polls

    def poll(self):
        self.left -= 1
        if self.left > 0:
            return None
        self.log.append(("end", self.job, self.slot))
        return 0


def test_gpu_slots_spread_over_every_gpu_before_doubling_up():
    assert bench.gpu_slots(2, 2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert bench.gpu_slots(1, 3) == ["cuda:0"] * 3


def test_scheduler_never_runs_two_jobs_in_one_slot_and_runs_every_job_once():
    log, busy = [], {}

    def start(job, slot):
        assert busy.get(slot) is None or busy[slot].left <= 0, f"{slot} still busy"
        log.append(("start", job, slot))
        busy[slot] = FakeRun(log, job, slot, polls=1 + job % 3)
        return busy[slot]

    slots = bench.gpu_slots(2, 2)
    done = bench.run_scheduled(list(range(9)), slots, start, poll_s=0)
    assert sorted(job for job, _slot, _code in done) == list(range(9))
    assert all(code == 0 for _j, _s, code in done)
    starts = [entry for entry in log if entry[0] == "start"]
    assert {slot for _k, _j, slot in starts[:2]} == {"cuda:0", "cuda:1"}  # the first two jobs go to different GPUs
    running = 0
    for kind, _job, _slot in log:  # at most len(slots) at a time
        running += 1 if kind == "start" else -1
        assert running <= len(slots)


def test_paired_differences_and_tests_use_matching_seeds():
    def rec(seed, dice):
        return {"seed": seed, "mean": {"dice": dice}}

    base = [rec(s, 0.80) for s in range(5)]
    row = [rec(s, 0.80 + d) for s, d in enumerate((0.01, 0.02, 0.03, 0.02, -0.01))]
    out = bench.paired(row, base)
    assert out["n"] == 5 and out["mean"] == pytest.approx(0.014)
    assert (out["wins"], out["losses"]) == (4, 1)
    assert 0 < out["t_p"] < 1 and out["wilcoxon_p"] >= 0.0625  # 5 pairs: Wilcoxon's floor


def test_supervised_rows_ignore_the_synthetic_family_and_compare_within_a_protocol():
    rows = {r[0]: r for r in bench.ROWS}
    assert not bench.needs_synthetic(rows["supervised"]) and not bench.needs_synthetic(rows["bcp-real"])
    assert bench.needs_synthetic(rows["sra-seg-ref"])
    assert bench.baseline_of(rows["sra-seg-ref"]) == "supervised-ref"
    assert bench.baseline_of(rows["sra-seg"]) == "supervised"

    class Args:
        seeds = 2

    jobs = bench.jobs_for(Args, [rows["supervised"], rows["sra-seg"]], ["mild", "hard"])
    assert jobs == [("supervised", "mild", 1337), ("supervised", "mild", 1338), ("sra-seg", "mild", 1337),
                    ("sra-seg", "mild", 1338), ("sra-seg", "hard", 1337), ("sra-seg", "hard", 1338)]


def test_a_row_can_be_limited_to_one_family():
    only = bench.parse_rows("supervised,sra-seg,sra-seg-ref@mild", ["mild", "hard"])
    assert only == {"supervised": ["mild", "hard"], "sra-seg": ["mild", "hard"], "sra-seg-ref": ["mild"]}

    class Args:
        seeds = 1

    rows = {r[0]: r for r in bench.ROWS}
    jobs = bench.jobs_for(Args, [rows[k] for k in only], ["mild", "hard"], only)
    assert ("sra-seg-ref", "hard", 1337) not in jobs and ("sra-seg-ref", "mild", 1337) in jobs


def test_progress_of_a_run_comes_from_its_events(tmp_path):
    import json

    events = [{"event": "stage", "stage": "pretrain", "time": 100.0},
              {"event": "progress", "stage": "pretrain", "iteration": 100, "total": 200, "time": 160.0},
              {"event": "validation", "stage": "pretrain", "iteration": 100, "mean_dice": 0.5, "best_dice": 0.5,
               "time": 170.0},
              {"event": "validation", "stage": "pretrain", "iteration": 200, "mean_dice": 0.4, "best_dice": 0.5,
               "time": 220.0}]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n{\"event\": \"prog")
    state = bench.run_progress(tmp_path)
    assert (state["stage"], state["iteration"], state["total"], state["finished"]) == ("pretrain", 100, 200, False)
    assert state["validation"]["pretrain"] == {"iteration": 200, "last": 0.4, "best": 0.5}
    assert state["wall_minutes"] == 2.0
    assert bench.run_progress(tmp_path / "not-started") is None


def test_a_one_seed_table_shows_no_spread_and_the_cpu_minutes(tmp_path):
    def rec(key, dice):
        per_class = {"LV": {m: dice for m in bench.METRICS}}
        return {"row": key, "seed": 1337, "per_class": per_class, "mean": dict(per_class["LV"]), "minutes": 3.0,
                "cpu_minutes": 5.0}

    base, row = [rec("supervised", 0.80)], [rec("sra-no-sa", 0.85)]
    results = {"supervised": {"records": base, "aggregate": bench.aggregate(base)},
               "sra-no-sa": {"records": row, "aggregate": bench.aggregate(row),
                             "paired_dice": bench.paired(row, base), "paired_hd95": bench.paired(row, base, "hd95")}}
    text = bench.write_table(tmp_path / "t.md", {"mild": results}, "caption")
    line = next(l for l in text.splitlines() if l.startswith("| SRA-Seg without SA"))
    assert "±" not in line and "nan" not in line
    assert "+5.00 (1 seed)" in line and line.rstrip(" |").endswith("5.0")
    assert "CPU min/run" in text
