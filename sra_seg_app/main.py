"""``sra-seg-studio`` / ``python -m sra_seg_app``: start the desktop application."""

from __future__ import annotations

import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sra-seg-studio", description="SRA-Seg Studio: label, train, review, export.")
    p.add_argument("project", nargs="?", help="a project folder to open")
    p.add_argument("--demo", action="store_true", help="open the demo project (created on first use)")
    p.add_argument("--read-only", action="store_true", help="open the project without changing it")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from sra_seg_app.main_window import MainWindow
    from sra_seg_app.theme import apply_theme, icon

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SRA-Seg Studio")
    app.setOrganizationName("SRA-Seg")
    apply_theme(app)
    app.setWindowIcon(icon("fa5s.heartbeat", "#2b8a90"))
    window = MainWindow()
    window.show()
    if args.demo:
        window.open_demo()
    elif args.project:
        window.open_project(args.project, read_only=args.read_only)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
