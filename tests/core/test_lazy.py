"""Modules imported on first use (sra_seg_core.lazy)."""

from __future__ import annotations

import sys
import threading

from sra_seg_core.lazy import lazy_module


def test_the_module_is_imported_once_on_first_attribute_access_from_many_threads(tmp_path, monkeypatch):
    runs = tmp_path / "runs.txt"
    (tmp_path / "sra_lazy_probe.py").write_text(
        "import time\n"
        f"with open({str(runs)!r}, 'a') as fh:\n    fh.write('x')\n"
        "time.sleep(0.05)\n"
        "VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sra_lazy_probe", raising=False)
    probe = lazy_module("sra_lazy_probe")
    assert "sra_lazy_probe" not in sys.modules and not runs.exists()
    assert "not imported yet" in repr(probe)

    seen = []
    threads = [threading.Thread(target=lambda: seen.append(probe.VALUE)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [42] * 8
    assert runs.read_text() == "x"  # executed once
    assert "sra_lazy_probe" in sys.modules and "(imported)" in repr(probe)
    monkeypatch.delitem(sys.modules, "sra_lazy_probe")
