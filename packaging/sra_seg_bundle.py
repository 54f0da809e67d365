"""Entry point of the frozen bundle (PyInstaller): one program, three ways in.

* ``sra-seg-studio [project] [--demo]`` — the desktop application;
* ``sra-seg COMMAND …`` — the engine's command line (the same executable under its second name in the bundle);
* ``<either> -m sra_seg_core COMMAND …`` — how the application starts its engine child processes
  (``sra_seg_app/processes.py`` runs ``sys.executable -m sra_seg_core …``; frozen, ``sys.executable`` is this
  program, so it must answer to ``-m`` as the interpreter would);
* ``<either> -m torch.distributed.run … -m sra_seg_core train …`` — a training run over several GPUs from the Train
  workspace (``sra_seg_app/model/run_folder.py``); torchrun then starts each worker as ``<either> -u -m sra_seg_core
  …`` (``-u``, unbuffered output, is the interpreter's flag: the bundle's output is unbuffered anyway, through
  ``PYTHONUNBUFFERED``, which the app sets).

``--version`` prints the version without starting Qt or importing torch.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name = Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0]).stem.lower()
    if argv[:1] == ["-u"]:
        argv = argv[1:]
    if argv[:2] == ["-m", "torch.distributed.run"]:
        from torch.distributed.run import main as torchrun

        torchrun(argv[2:])
        return 0
    if argv[:2] == ["-m", "sra_seg_core"]:
        return _engine(argv[2:])
    if argv[:2] == ["-m", "sra_seg_app"]:
        argv = argv[2:]
    elif name == "sra-seg":
        return _engine(argv)
    if argv == ["--version"]:
        from sra_seg_core import __version__

        print(f"SRA-Seg Studio {__version__}")
        return 0
    from sra_seg_app.main import main as app

    return app(argv)


def _engine(argv: list[str]) -> int:
    from sra_seg_core.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child started by multiprocessing must not start the app again
    sys.exit(main())
