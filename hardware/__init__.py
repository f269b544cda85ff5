"""Operation counting (typed cost reports), energy/latency profiles and Lava export, installed as ``tnas_plugin.hardware``.

``export_lava``/``run_lava`` (and :class:`LavaTTFSGraph`) are imported lazily: importing Lava takes seconds
and may fix ``multiprocessing``'s start method (:mod:`tnas_plugin.lava_compat`), which users of the counter
should not pay for.
"""
from .cost import CostReport, LayerCost
from .energy import COST_METRICS, EnergyEstimate, cost_metrics, estimate_energy
from .profiles import HardwareProfile, ProfileError, available_profiles, load_profile
from .synops import SteppedCounter, ann_macs, count_ttfs, synapse_counts

_LAVA_API = ("LavaComparison", "LavaRun", "LavaTTFSGraph", "export_lava", "run_lava")

__all__ = ["COST_METRICS", "CostReport", "EnergyEstimate", "HardwareProfile", "LayerCost", "ProfileError", "SteppedCounter",
           "ann_macs", "available_profiles", "cost_metrics", "count_ttfs", "estimate_energy", "load_profile", "synapse_counts", *_LAVA_API]


def __getattr__(name: str):
    if name in _LAVA_API:
        from . import lava_export

        return getattr(lava_export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
