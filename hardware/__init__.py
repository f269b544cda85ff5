"""Synaptic-operation counting, energy/latency profiles and Lava export, installed as ``tnas_plugin.hardware``."""
