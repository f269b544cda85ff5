"""The evolution core's proposal model: a Parzen-window density ratio of good over bad results.

Tree-structured Parzen estimation (Bergstra, Bardenet, Bengio and Kégl, "Algorithms for hyper-parameter
optimization", NeurIPS 2011) models the good results by ``l(x)`` and the others by ``g(x)`` and prefers the
candidates with the largest ``l(x) / g(x)``; with several objectives the good ones are the best by
non-dominated rank (Ozaki et al., "Multiobjective tree-structured Parzen estimator", GECCO 2020). Each
density is a product over the genes of one-dimensional estimators (docs/ARCHITECTURE.md, "Proposal model"):

- a gene with ``size`` values (``choice``): the share of the points at each value, with one pseudo-point
  spread evenly over the values as the prior;
- a number on ``[0, 1]`` (a bounded gene scaled to its range): a Gaussian kernel per point truncated to the
  interval, plus the uniform prior as one more kernel;
- a number on the real line (an unbounded gene standardised by its prior): a Gaussian kernel per point,
  plus the standard normal prior as one more kernel.

The kernels' width is Scott's rule (``1.06 sd n^-1/5``), floored at ``1 / min(100, n + 1)`` of the unit
range as TPE's "magic clip" does, so that a few coinciding points do not make a spike.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

_SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Dimension:
    """One coordinate of the model: ``size`` values (categorical, coordinates 0 .. size - 1), or a number
    (``size=None``) on ``[0, 1]`` if ``bounded`` else on the real line."""

    size: int | None
    bounded: bool = True


def _width(values: np.ndarray) -> float:
    """Kernel width of a numeric coordinate: Scott's rule, floored at ``1 / min(100, n + 1)``, at most 1."""
    n = len(values)
    spread = float(np.std(values)) if n > 1 else 1.0
    return min(max(1.06 * spread * n ** -0.2, 1 / min(100, n + 1)), 1.0)


def sample(points: np.ndarray, dims: Sequence[Dimension], rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` draws (rows) from the Parzen density of :func:`log_density`, each coordinate on its own
    (a kernel, or the prior with weight ``1 / (n + 1)``, then a value from it; truncated kernels by redrawing)."""
    n = len(points)
    out = np.empty((count, len(dims)))
    for column, dim in enumerate(dims):
        values = points[:, column]
        pick = rng.integers(0, n + 1, size=count)  # n: the prior
        if dim.size is not None:
            out[:, column] = np.where(pick < n, values[np.minimum(pick, n - 1)], rng.integers(0, dim.size, size=count))
            continue
        width = _width(values)
        centre = values[np.minimum(pick, n - 1)]
        drawn = centre + width * rng.standard_normal(count)
        if dim.bounded:
            outside = (drawn < 0) | (drawn > 1)
            while outside.any():
                drawn[outside] = centre[outside] + width * rng.standard_normal(int(outside.sum()))
                outside = (drawn < 0) | (drawn > 1)
            prior = rng.random(count)
        else:
            prior = rng.standard_normal(count)
        out[:, column] = np.where(pick < n, drawn, prior)
    return out


def log_density(points: np.ndarray, dims: Sequence[Dimension], x: np.ndarray) -> np.ndarray:
    """Log of the Parzen density fitted to ``points`` (n x d), at each row of ``x`` (m x d)."""
    n = len(points)
    total = np.zeros(len(x))
    for column, dim in enumerate(dims):
        values, at = points[:, column], x[:, column]
        if dim.size is not None:
            counts = np.bincount(values.astype(int), minlength=dim.size)
            total += np.log((counts[at.astype(int)] + 1 / dim.size) / (n + 1))
            continue
        width = _width(values)
        kernels = np.exp(-0.5 * ((at[:, None] - values[None, :]) / width) ** 2) / (width * _SQRT_2PI)
        if dim.bounded:
            mass = ndtr((1 - values) / width) - ndtr(-values / width)
            kernels /= np.maximum(mass, 1e-300)[None, :]
            prior = np.ones(len(at))  # uniform on [0, 1]
        else:
            prior = np.exp(-0.5 * at ** 2) / _SQRT_2PI
        total += np.log(np.maximum(kernels.sum(axis=1) + prior, 1e-300) / (n + 1))
    return total


def density_ratio(good: np.ndarray, bad: np.ndarray, dims: Sequence[Dimension], x: np.ndarray) -> np.ndarray:
    """``log l(x) - log g(x)`` for each row of ``x``: ``l`` fitted to ``good``, ``g`` to ``bad``."""
    return log_density(good, dims, x) - log_density(bad, dims, x)

