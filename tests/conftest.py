"""Test-wide settings: Qt runs headless, and nothing writes to the real user folders."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
