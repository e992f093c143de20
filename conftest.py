"""Checkout convenience: activate the FG-BMK plugin when the package is not pip-installed.

Once installed, pytest loads the plugin through its ``pytest11`` entry point and this
file does nothing (registering it twice would be an error).
"""

from importlib.metadata import entry_points

_INSTALLED = any(ep.value == "pytest_fgbmk.plugin" for ep in entry_points(group="pytest11"))

pytest_plugins = [] if _INSTALLED else ["pytest_fgbmk.plugin"]
