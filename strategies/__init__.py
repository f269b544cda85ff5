"""Evolutionary multi-objective strategy (NNI Strategy and Tuner) and the WAR/UAR evaluator, installed as ``tnas_plugin.strategies``."""
