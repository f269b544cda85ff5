"""The TTFS eye-emotion search space: every sample is a convertible TTFS network; export/rebuild round trip."""
import json

import numpy as np
import pytest
import torch

from tnas_plugin.search_spaces import TTFSEyeSpace, export_hpo_space, rebuild_candidate
from tnas_plugin.data import channels_per_frame
from tnas_plugin.ttfs import ann_to_ttfs


def _clips(spec, n=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, spec.frames, channels_per_frame(spec.modality), spec.resolution, spec.resolution, generator=generator)


@pytest.fixture(scope="module")
def space():
    return TTFSEyeSpace(resolution=16)


def test_random_samples_build_convert_and_run(space):
    random_state = np.random.RandomState(0)
    seen_pools = set()
    for _ in range(12):
        candidate = space.random(random_state=random_state)
        spec = candidate.spec
        seen_pools |= {stage.pool for stage in spec.stages}
        clips = _clips(spec)
        candidate.eval()
        ann_logits = candidate(clips)
        assert ann_logits.shape == (len(clips), 7)
        snn = ann_to_ttfs(candidate.ann, clips.flatten(1, 2))
        run = snn.run(clips.flatten(1, 2), steps_per_window=spec.steps_per_window)
        assert run.logits.shape == (len(clips), 7)
        assert torch.allclose(snn(clips.flatten(1, 2)), ann_logits, atol=1e-4)  # continuous time = the ANN
    assert seen_pools == {"max", "avg", "stride", "none"}


def test_export_then_rebuild_gives_the_same_architecture(space):
    hpo = export_hpo_space(space)
    json.dumps(hpo)  # nnictl reads it as JSON
    assert all(entry["_type"] == "choice" for entry in hpo.values())
    random_state = np.random.RandomState(1)
    for _ in range(5):
        sample = {}
        candidate = space.random(memo=sample, random_state=random_state)
        params = {label: entry["_value"][entry["_value"].index(sample[label])] for label, entry in hpo.items()}
        rebuilt = rebuild_candidate(space, json.loads(json.dumps(params)))
        assert rebuilt.spec == candidate.spec
        assert str(rebuilt.ann) == str(candidate.ann)


def test_rebuild_names_missing_labels(space):
    with pytest.raises(ValueError, match="classifier_width"):
        rebuild_candidate(space, {"modality": "event"})


def test_space_rejects_resolution_too_small_for_its_pooling():
    with pytest.raises(ValueError, match="resolution"):
        TTFSEyeSpace(resolution=4, stage_choices=(1, 2, 3))


def test_the_label_table_sets_every_spec_field_and_choices_go_by_keyword():
    from dataclasses import fields

    from tnas_plugin.candidate import CandidateSpec, StageSpec
    from tnas_plugin.search_spaces.eye_space import LABELS, EyeSpaceChoices

    assert {label.field for label in LABELS if not label.per_stage} == {f.name for f in fields(CandidateSpec)} - {"resolution", "num_classes"}
    assert {label.field for label in LABELS if label.per_stage} == {f.name for f in fields(StageSpec)}
    assert {label.choices for label in LABELS} == {f.name for f in fields(EyeSpaceChoices)} - {"resolution", "num_classes"}
    with pytest.raises(TypeError):
        EyeSpaceChoices(16)
