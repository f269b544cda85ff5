"""The jobs a user runs: the ``tnas-er`` command line, the whole search job, baselines and reports.

The top layer (docs/ARCHITECTURE.md, "Layers"): only this package may import everything — the core, the
hardware plugin and the NNI adapters.
"""
