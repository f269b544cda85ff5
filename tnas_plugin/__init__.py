"""TNAS-ER: time-to-first-spike (TTFS) network search for eye-based emotion recognition, as NNI 3.0 extensions."""
import warnings

# NNI 3.0 probes every torch.nn attribute on import and warns about the non-module ones newer torch adds;
# the warning is about NNI's probe, not about anything a user does.
warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module", category=RuntimeWarning)

__version__ = "0.1.0"
