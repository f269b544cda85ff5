"""Pareto domination and hypervolume, every objective minimised (negate one to maximise it) — no NNI.

The one home of both mechanisms: the strategies' NSGA-II ranking, ``tnas-er front``, the search report and
the benchmarks call these. Domination and fast non-dominated sorting follow Deb et al., "A fast and elitist
multiobjective genetic algorithm: NSGA-II", IEEE Trans. Evol. Comput. 6(2):182-197, 2002 (sections III-A
and IV-A, constrained domination); the hypervolume indicator is Zitzler & Thiele's (IEEE Trans. Evol.
Comput. 3(4), 1999), computed by ``moocore.hypervolume``.
"""
from __future__ import annotations

from collections.abc import Sequence

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """``a`` is nowhere worse than ``b`` and somewhere better (all objectives minimised)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def constrained_dominates(a: tuple[Point, float], b: tuple[Point, float]) -> bool:
    """Constrained domination of ``a`` over ``b``; each is (objectives to minimise, budget violation >= 0):
    the smaller violation wins, and between two feasible points plain domination decides."""
    (fa, va), (fb, vb) = a, b
    if va > 0 or vb > 0:
        return va < vb
    return dominates(fa, fb)


def non_dominated_sort(points: Sequence[tuple[Point, float]]) -> list[list[int]]:
    """Fast non-dominated sorting of (objectives, violation) pairs: the indices of ``points`` front by front,
    best front first, each front in index order (equal points share a front)."""
    dominated_by_me: list[list[int]] = [[] for _ in points]
    domination_count = [0] * len(points)
    for i, p in enumerate(points):
        for j in range(i + 1, len(points)):
            if constrained_dominates(p, points[j]):
                dominated_by_me[i].append(j)
                domination_count[j] += 1
            elif constrained_dominates(points[j], p):
                dominated_by_me[j].append(i)
                domination_count[i] += 1
    fronts = []
    current = [i for i, count in enumerate(domination_count) if count == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in dominated_by_me[i]:
                domination_count[j] -= 1
                if domination_count[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated ``points``, in order; duplicates all stay."""
    return non_dominated_sort([(p, 0.0) for p in points])[0] if len(points) else []


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Volume dominated by ``points`` and bounded by ``reference``; a point not better than the reference in
    every objective adds nothing.

    Example
    -------
    >>> hypervolume([(1, 3), (2, 2), (3, 1)], (4, 4))
    6.0
    """
    import moocore
    import numpy as np

    inside = [p for p in points if all(x < r for x, r in zip(p, reference))]
    if not inside:
        return 0.0
    return float(moocore.hypervolume(np.asarray(inside, dtype=float), ref=np.asarray(reference, dtype=float)))


def hypervolume_subset(points: Sequence[Point], count: int) -> list[int]:
    """Indices (in order) of ``count`` of the mutually non-dominated ``points`` that keep the most
    hypervolume: the point whose exclusive contribution is least is dropped until ``count`` remain
    (greedy hypervolume subset selection, as MOTPE splits a front: Ozaki et al., GECCO 2020), each objective
    scaled to [0, 1] over the points still in, reference point 1.1; a tie drops the later point. With one
    objective the points are all equal: the first ``count`` stay.

    Example
    -------
    >>> hypervolume_subset([(0, 1), (0.5, 0.5), (0.52, 0.48), (1, 0)], 3)
    [0, 1, 3]
    """
    import moocore
    import numpy as np

    kept = list(range(len(points)))
    if count <= 0:
        return []
    values = np.asarray(points, dtype=float).reshape(len(points), -1)
    if values.shape[1] < 2:
        return kept[:count]
    while len(kept) > count:
        front = values[kept]
        low, high = front.min(axis=0), front.max(axis=0)
        scaled = (front - low) / np.where(high > low, high - low, 1.0)
        contributions = moocore.hv_contributions(scaled, ref=np.full(values.shape[1], 1.1))
        del kept[len(kept) - 1 - int(np.argmin(contributions[::-1]))]
    return kept
