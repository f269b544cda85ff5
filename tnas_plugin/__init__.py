"""TNAS-ER: time-to-first-spike (TTFS) network search for eye-based emotion recognition, as NNI 3.0 extensions."""

__version__ = "0.1.0"
