"""``sra-seg`` command line. Each sub-command is a module ``sra_seg_core/commands/<name>.py`` with a
``register(subparsers)`` function that adds its parser and sets ``func``; modules are found by listing the package. heavy imports (torch) happen inside the command, so ``sra-seg convert`` starts fast.

User errors (:class:`~sra_seg_core.errors.SraSegError` and file-system errors) become one ``error: …`` line on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from sra_seg_core import __version__, commands
from sra_seg_core.errors import SraSegError, error_line, one_line  # noqa: F401  (error_line: re-exported)
from sra_seg_core.third_party_output import folded_third_party_output


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``error:`` line like every other error (not the usage text, then a line),
    exit code 2 as argparse's own. Sub-command parsers inherit the class."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sra-seg",
        description="SRA-Seg: semi-supervised medical image segmentation with synthetic images.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with folded_third_party_output() as native:
        try:
            return int(args.func(args) or 0)
        except (SraSegError, OSError) as exc:
            line = error_line(exc)
            said = native.last_line()  # e.g. libpng's own reason, printed by the C library
            print(f"error: {line}" + (f" ({said})" if said and said not in line else ""), file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
