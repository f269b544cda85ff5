"""TTFS mutable search spaces (NNI ``ModelSpace``), installed as ``tnas_plugin.search_spaces``."""
