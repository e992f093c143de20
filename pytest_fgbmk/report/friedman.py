"""The record of one Friedman/Nemenyi comparison (computed by
:mod:`pytest_fgbmk.report.compare`, drawn by :mod:`pytest_fgbmk.report.plots`).

It sits below both so that the plots need not import the module that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FriedmanResult:
    """One comparison tested over ``datasets`` (rows) × ``models`` (columns).

    ``mean_ranks[j]`` is model j's average rank (1 = best); ``nemenyi[i, j]`` the
    pairwise p-value; ``cliques`` the maximal groups of models (indices, best first) whose
    rank spread is below the critical distance ``cd`` — the bars of the diagram.
    """

    name: str
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    scores: np.ndarray
    mean_ranks: np.ndarray
    statistic: float
    p_value: float
    nemenyi: np.ndarray
    cd: float
    alpha: float
    cliques: tuple[tuple[int, ...], ...]

    @property
    def order(self) -> list[int]:
        """Model indices from best (lowest mean rank) to worst; ties by label."""
        return sorted(range(len(self.models)), key=lambda j: (self.mean_ranks[j], self.models[j]))
