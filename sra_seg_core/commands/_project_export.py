"""``sra-seg project export``: write a project's label maps as NIfTI, PNG masks and overlays, and a metrics table.

The project is opened read-only, so this runs while the app has the project open (the app runs this very command).
SIGTERM or Ctrl+C stop it between slices; what was written stays, and export.json says the export was stopped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from sra_seg_core.errors import ConfigError, InputError


def register(actions) -> None:
    p = actions.add_parser(
        "export",
        help="export label maps (NIfTI with the scan's geometry, PNG masks and overlays) and metrics",
        description="Export approved labels and/or predictions of a project. Files: OUT/nifti/<case>.nii.gz, "
        "OUT/png/<case>/<case>_z###.png (class index per pixel) with a colour copy in OUT/png_color/, "
        "OUT/dicom-seg/<case>.dcm (--dicom-seg), OUT/overlays/<case>/<case>_z###.png, "
        "OUT/metrics.csv (against reference labels) and OUT/export.json; predictions are named <case>_pred. "
        "Exit code 1 when some cases could not be exported (each is listed with the reason).",
    )
    p.add_argument("dir", type=Path, metavar="PROJECT", help="project folder (opened read-only)")
    p.add_argument("out", type=Path, metavar="OUT", help="export folder (created if missing)")
    p.add_argument("--cases", nargs="+", metavar="ID", help="case ids (default: every case with the chosen labels)")
    p.add_argument("--cases-file", type=Path, metavar="FILE", help="case ids, one per line ('-' = stdin)")
    p.add_argument("--source", choices=("approved", "prediction", "both"), default="approved",
                   help="approved labels, model predictions, or both (default: approved)")
    p.add_argument("--png", action="store_true", help="PNG masks, one per slice, grey value = class index")
    p.add_argument("--overlays", action="store_true", help="RGB PNG overlays of the labels on the scan, per slice")
    p.add_argument("--opacity", type=float, default=0.45, metavar="A", help="overlay fill opacity 0..1 (0.45)")
    p.add_argument("--dicom-seg", action="store_true",
                   help="DICOM-SEG per case imported from a DICOM series, referencing that series (OUT/dicom-seg/)")
    p.add_argument("--no-nifti", action="store_true", help="skip the NIfTI label maps")
    p.add_argument("--no-metrics", action="store_true", help="skip metrics.csv")
    p.add_argument("--events", metavar="FILE", help="also write JSON-line progress events here ('-' = stdout)")
    p.add_argument("--overwrite", action="store_true", help="export into a folder that already holds other files "
                   "(files of the same name are replaced); a previous export's folder needs no --overwrite")
    p.set_defaults(func=run)


def _case_ids(args: argparse.Namespace) -> list[str] | None:
    if args.cases is None and args.cases_file is None:
        return None
    ids = list(args.cases or [])
    if args.cases_file is not None:
        if str(args.cases_file) == "-":
            text = sys.stdin.read()
        else:
            try:
                text = args.cases_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read the list of cases ({exc})", args.cases_file) from None
        ids += [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise ConfigError("the list of cases is empty; name at least one case, or leave out --cases to export all")
    return ids


@contextmanager
def _stop_on_signals(stop: list[bool]):
    """SIGINT/SIGTERM set ``stop[0]`` so the export ends between slices with its report written."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: stop.__setitem__(0, True))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run(args: argparse.Namespace) -> int:
    from sra_seg_core.events import Event, JsonLinesSink, fan_out
    from sra_seg_core.export import ExportOptions, export_project
    from sra_seg_core.project import Project

    from sra_seg_core.outputs import check_empty_folder, check_events_file, check_not_input, check_outside_projects

    check_events_file(args.events, [args.dir, *([args.cases_file] if args.cases_file else [])])
    check_not_input(args.out, [args.dir], option="OUT")
    check_outside_projects(args.out, option="OUT")
    check_empty_folder(args.out, option="OUT", overwrite=args.overwrite, own_marker="export.json")
    ids = _case_ids(args)
    human = sys.stderr if args.events == "-" else sys.stdout
    sink = JsonLinesSink(args.events) if args.events else None
    emit = fan_out(sink)
    started = time.monotonic()

    def progress(done: int, total: int, case_id: str) -> None:
        eta = (time.monotonic() - started) / done * (total - done) if done else None
        emit(Event("progress", stage="export", iteration=done, total=total, eta_s=eta, case=case_id or None,
                   message=case_id))
        if case_id:
            print(f"[{done + 1}/{total}] {case_id}", file=human, flush=True)

    stop = [False]
    try:
        with Project.open(args.dir, read_only=True) as project, _stop_on_signals(stop):
            emit(Event("stage", stage="export", message=f"exporting from {project.name} to {args.out}"))
            report = export_project(project, args.out, cases=ids, on_progress=progress, cancel=lambda: stop[0],
                                    **vars(ExportOptions.from_cli(args)))
        for case_id, reason in report.failed:
            emit(Event("warning", stage="export", case=case_id, message=f"{case_id}: {reason}"))
            print(f"failed  {case_id}: {reason}", file=human)
        for case_id, reason in report.skipped:
            print(f"skipped {case_id}: {reason}", file=human)
        for kind, summary in report.metrics.items():
            print(f"mean Dice of {kind} vs reference: {100 * summary['dice']:.2f} % ({summary['cases']} cases)",
                  file=human)
        status = "stopped" if report.cancelled else "finished"
        summary = (f"{'stopped after' if report.cancelled else 'exported'} {len(report.exported)} of {report.total} "
                   f"cases, {len(report.files)} files in {report.out_dir}")
        print(summary, file=human)
        emit(Event("done", stage="export", iteration=len(report.exported), total=report.total, status=status,
                   path=str(report.out_dir), message=summary, result=report.to_json()))
    finally:
        if sink:
            sink.close()
    return 1 if report.failed else 0
