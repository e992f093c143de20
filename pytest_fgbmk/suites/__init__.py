"""The FG-BMK suites: what users run (``pytest --fgbmk-model=SPEC --pyargs pytest_fgbmk.suites``).

Each module declares one parametrized test; the plugin turns every case of the session's
datasets into one parameter, measures it, and the test asserts through the gate.
"""
