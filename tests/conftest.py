"""Shared fixtures: a tiny synthetic SEE tree, written once per test session."""
import pytest

from tnas_plugin.data import SynthConfig, synthesize


@pytest.fixture(scope="session")
def tiny_see(tmp_path_factory):
    """8 subjects of 16x16 synthetic eye sequences in the SEE layout, two takes of each emotion per subject."""
    root = tmp_path_factory.mktemp("see") / "synthetic-see"
    synthesize(root, SynthConfig(subjects=8, size=(16, 16), sequences_per_subject=14, frames=(12, 16)))
    return root
