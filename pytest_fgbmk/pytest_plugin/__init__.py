"""The pytest layer of FG-BMK: the only package that imports pytest, syrupy or xdist.

``hooks`` (hooks, fixtures, summary), ``options`` (command-line options, ini keys, xdist
roles), ``snapshot`` (the syrupy binding), ``terminal`` (progress output), ``report``
(the ``--fgbmk-report`` hook), ``plan`` (the collection-only ``--fgbmk-plan`` hook). The plugin is
registered through the ``pytest11`` entry point :mod:`pytest_fgbmk.plugin`, which
re-exports ``hooks``.
"""
