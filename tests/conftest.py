"""Test-wide settings: nothing in the test suite downloads (a loopback server stands in)."""

import os

os.environ.setdefault("COLORLAB_OFFLINE", "1")
