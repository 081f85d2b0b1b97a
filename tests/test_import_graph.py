"""Every module of the app imports on its own, whatever is imported first.

A cycle between two areas hides while some other module happens to be imported before
them (the app factory, a test's imports), and breaks a script or a command that starts from
the other end. Each module is imported here in a fresh `webapp` namespace.
"""

import subprocess
import sys

PROBE = r"""
import importlib, pkgutil, sys, traceback
import webapp
names = sorted(
    info.name
    for info in pkgutil.walk_packages(webapp.__path__, "webapp.")
    if not info.name.startswith("webapp.migrations")
)
failures = []
for name in names:
    for loaded in [m for m in sys.modules if m == "webapp" or m.startswith("webapp.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print(len(names))
print("\n".join(failures))
"""


def test_each_module_imports_first_without_a_cycle():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    count, *failures = done.stdout.strip().split("\n")
    assert int(count) > 60  # the walk found the app's modules
    assert [f for f in failures if f] == []
