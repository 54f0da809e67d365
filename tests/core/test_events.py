"""The one event type and its JSON-lines stream."""

import io
import math

import pytest

from sra_seg_core.events import Event, JsonLinesSink, format_event, read_events


def test_event_round_trips_through_json():
    e = Event("progress", stage="selftrain", iteration=10, total=100, losses={"sup": 0.5, "sa": 0.1}, lr=0.01,
              throughput=2.0, eta_s=45.0, memory_mb=120.0)
    back = Event.from_json(e.to_json())
    assert back == e


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError):
        Event("bogus")


def test_non_finite_numbers_become_null_so_any_reader_can_parse():
    line = Event("validation", dice={"RV": math.nan}, mean_dice=math.inf).to_json()
    assert "NaN" not in line and "Infinity" not in line


def test_sink_writes_one_flushed_line_per_event_and_reader_skips_torn_lines():
    buf = io.StringIO()
    sink = JsonLinesSink(buf)
    sink(Event("stage", stage="pretrain", message="go"))
    sink(Event("done", status="finished"))
    text = buf.getvalue() + '{"event": "progr'
    events = read_events(text.splitlines())
    assert [e.event for e in events] == ["stage", "done"]


def test_format_event_is_one_readable_line():
    line = format_event(Event("validation", stage="pretrain", iteration=200, total=1000, dice={"RV": 0.8},
                              mean_dice=0.8, best_dice=0.85))
    assert "\n" not in line and "0.8000" in line and "RV=0.800" in line


def test_events_written_before_the_typed_fields_still_read_with_them():
    old_checkpoint = Event.from_json('{"event":"checkpoint","stage":"pretrain","iteration":2,"time":1.0,'
                                     '"path":"c/latest.pt","message":"latest"}')
    old_stage = Event.from_json('{"event":"stage","time":1.0,"message":"loading data","extra":{"device":"cpu"}}')
    assert old_checkpoint.kind == "latest" and old_stage.device == "cpu"


def test_a_training_end_without_validation_reads_as_a_dash_not_minus_one():
    line = format_event(Event("done", status="stopped", best_dice=-1.0,
                              message="training stopped; best validation mean Dice -1.0000"))
    assert "-1.0000" not in line and "–" in line
