"""Checkout convenience: activate the FG-BMK plugin even when the package is not pip-installed.

When it is installed, its ``pytest11`` entry point carries the module's own name, so this
line finds the plugin already registered and does nothing more.
"""

pytest_plugins = ["pytest_fgbmk.plugin"]
