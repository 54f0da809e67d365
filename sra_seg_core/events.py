"""The engine's one progress type: an :class:`Event`, serialised as one JSON line.

The trainer emits events; the CLI writes them to ``--events FILE`` (``-`` for stdout), the app's training panel reads
them from the training process's stdout and plots them, and tests assert on them. Nothing parses printed text.

Kinds: ``stage`` (a stage starts), ``progress`` (losses, learning rate, throughput, ETA, device memory),
``validation`` (per-class Dice), ``checkpoint`` (a file was written), ``warning``, ``done`` (status ``finished`` or
``stopped``) and ``error`` (a readable message and what to do).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

KINDS = ("stage", "progress", "validation", "checkpoint", "warning", "done", "error")


@dataclass
class Event:
    event: str                              # one of KINDS
    stage: str = ""                         # "pretrain" | "selftrain" | "" (set-up)
    iteration: int = 0                      # iterations completed in this stage
    time: float = field(default_factory=time.time)  # unix seconds
    total: int | None = None                # iterations in this stage
    losses: dict[str, float] | None = None  # progress: sup, unsup, sa, total, …
    lr: float | None = None
    throughput: float | None = None         # iterations / s (recent)
    eta_s: float | None = None              # seconds left in the whole run
    memory_mb: float | None = None          # peak device memory (CUDA) or process RSS (CPU)
    dice: dict[str, float] | None = None    # validation: per-class Dice, keyed by class name
    mean_dice: float | None = None
    best_dice: float | None = None
    path: str | None = None                 # checkpoint / output file
    status: str | None = None               # done: finished | stopped | failed
    message: str | None = None              # warning / error text, or a stage description (for people only)
    extra: dict | None = None               # anything else worth keeping
    # Typed facts a reader acts on (older events.jsonl lack them; None means "not said").
    case: str | None = None                 # the case a progress/warning event of predict/export/suggest is about
    kind: str | None = None                 # checkpoint: best | latest | pretrain_best
    device: str | None = None               # stage "loading data": the torch device the trainer runs on
    encoder_pretrained: bool | None = None  # warning/stage: False when the DINOv2 encoder is untrained
    result: dict | None = None              # done: the command's typed result (as a dict: counts, files, suggestions)

    def __post_init__(self) -> None:
        if self.event not in KINDS:
            raise ValueError(f"unknown event kind {self.event!r}")

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(_finite(data), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Event:
        data = json.loads(line)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        event = cls(**known)
        # Files written before the typed fields: the checkpoint kind was the message, the device an extra.
        if event.event == "checkpoint" and event.kind is None and event.message in ("best", "latest"):
            event.kind = event.message
        if event.device is None and isinstance(event.extra, dict) and isinstance(event.extra.get("device"), str):
            event.device = event.extra["device"]
        return event


def _finite(value):
    """JSON has no NaN/Inf: write them as null so every reader can parse the stream."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


EventSink = Callable[[Event], None]


class JsonLinesSink:
    """Writes each event as a line to a file (appending) or a stream, flushed at once so readers see it live."""

    def __init__(self, target: str | Path | IO[str]):
        self._reader_gone = False
        if target == "-":
            self._stream, self._owned = sys.stdout, False
        elif isinstance(target, (str, Path)):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._stream, self._owned = open(target, "a", encoding="utf-8"), True
            if _ends_mid_line(Path(target)):  # a writer killed mid-line: the next event must not be glued to it
                self._stream.write("\n")
        else:
            self._stream, self._owned = target, False

    def __call__(self, event: Event) -> None:
        if self._reader_gone:
            return
        try:
            self._stream.write(event.to_json() + "\n")
            self._stream.flush()
        except BrokenPipeError:
            if self._owned:  # a FIFO given by name: its reader is part of the user's set-up, so say so
                raise
            # The reader of a stream (``--events -`` piped into another program) went away: the events still go to
            # the run's own events.jsonl, so the work goes on. Later writes are dropped, and stdout is pointed at
            # /dev/null so that the interpreter's final flush at exit does not fail on the pipe either.
            self._reader_gone = True
            _silence(self._stream)

    @property
    def reader_gone(self) -> bool:
        """The stream's reader closed its end; nothing is written any more."""
        return self._reader_gone

    def close(self) -> None:
        if self._owned:
            self._stream.close()


def _silence(stream) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's StringIO): nothing to flush at exit
        pass


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as fh:
        if fh.seek(0, os.SEEK_END) == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def fan_out(*sinks: EventSink | None) -> EventSink:
    live = [s for s in sinks if s is not None]

    def emit(event: Event) -> None:
        for sink in live:
            sink(event)

    return emit


def read_events(lines: Iterable[str]) -> list[Event]:
    """Parse a stream of JSON lines, skipping blank or torn lines (a killed writer may leave half a line)."""
    events = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            events.append(Event.from_json(line))
        except (ValueError, TypeError):
            continue
    return events


def format_event(event: Event) -> str:
    """One human-readable line for a terminal or the app's log view."""
    where = f"[{event.stage} {event.iteration}/{event.total}]" if event.stage and event.total else (
        f"[{event.stage}]" if event.stage else "")
    if event.event == "progress":
        losses = " ".join(f"{k}={v:.4f}" for k, v in (event.losses or {}).items())
        rate = f" {event.throughput:.2f} it/s" if event.throughput else ""
        eta = f" eta {_duration(event.eta_s)}" if event.eta_s is not None else ""
        return f"{where} {losses}{rate}{eta}"
    if event.event == "validation":
        per = " ".join(f"{k}={v:.3f}" for k, v in (event.dice or {}).items())
        best = f"{event.best_dice:.4f}" if event.best_dice is not None and event.best_dice >= 0 else "–"
        return f"{where} validation Dice {event.mean_dice:.4f} ({per}) best {best}"
    if event.event == "checkpoint":
        return f"{where} saved {event.kind or event.message or 'checkpoint'}: {event.path}"
    if event.event == "done":
        if event.best_dice is not None:   # training: from the typed figure (older files wrote -1 in the message)
            best = f"{event.best_dice:.4f}" if event.best_dice >= 0 else "– (no validation yet)"
            return f"done: training {event.status}; best validation mean Dice {best}"
        return f"done: {event.message or event.status}"
    text = event.message or ""
    prefix = {"warning": "warning: ", "error": "error: "}.get(event.event, "")
    return f"{where} {prefix}{text}".strip()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
