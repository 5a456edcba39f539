"""pytest setup: the package from the source tree (python/), the library from $BUILD (or
SEGLOSS_LIB), float64 torch for the references, one thread for torch."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.environ.get("SEGLOSS_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(ROOT, "python"))
    if "SEGLOSS_LIB" not in os.environ:
        os.environ["SEGLOSS_LIB"] = os.path.join(ROOT, os.environ.get("BUILD", "build"),
                                                 "libsegloss.so")
