"""The clip store (docs/ARCHITECTURE.md, "Trial overhead"): data sets decoded once per search, equal to fresh ones."""
import json
from dataclasses import replace

import pytest
import torch

from tnas_plugin.candidate import CandidateSpec, StageSpec
from tnas_plugin.clip_store import MANIFEST, write_clip_store
from tnas_plugin.measurement import MeasurementSettings, one_clip_per_sequence

SPEC = CandidateSpec("both", 2, 16, 16, (StageSpec(4, 3, "max"),), 16, 7)


@pytest.fixture(scope="module")
def store(tiny_see, tmp_path_factory):
    settings = MeasurementSettings.from_options(tiny_see, eval_starts=2)
    specs = [SPEC, replace(SPEC, modality="event", frames=4)]
    folder = write_clip_store(tmp_path_factory.mktemp("work") / "clips", settings.data_settings(), specs,
                              ("training", "validation"), settings.dataset)
    return settings, folder


def test_stored_data_sets_equal_fresh_ones_item_for_item(store):
    settings, folder = store
    stored = replace(settings, clip_store=str(folder))
    for spec in (SPEC, replace(SPEC, modality="event", frames=4)):
        for split in ("training", "validation"):
            fresh, kept = settings.dataset(spec, split), stored.dataset(spec, split)
            assert type(kept) is type(fresh) and len(kept) == len(fresh) and kept.targets == fresh.targets
            for i in range(len(fresh)):  # training draws its random start points from the same seeded generator
                assert torch.equal(kept[i][0], fresh[i][0]) and kept.metadata(i) == fresh.metadata(i)
    # one array holds every decoded sequence once, whatever the clip length or modality that reads it
    manifest = json.loads((folder / MANIFEST).read_text())
    assert len(manifest["datasets"]) == 4 and len(list(folder.glob("*.npy"))) == 1


def test_the_per_epoch_validation_clips_come_from_the_store_and_equal_a_one_start_data_set(store):
    """Each epoch's score reads the stored validation set at each sequence's first start point: the clips of a
    data set built with ``eval_starts=1``."""
    settings, folder = store
    for spec in (SPEC, replace(SPEC, modality="event", frames=4)):
        single = replace(settings, eval_starts=1).dataset(spec, "validation")
        first = one_clip_per_sequence(replace(settings, clip_store=str(folder)).dataset(spec, "validation"))
        assert len(first) == len(single) < len(settings.dataset(spec, "validation"))
        for i in range(len(single)):
            assert first[i][1] == single[i][1] and torch.equal(first[i][0], single[i][0])


def test_absent_store_or_candidate_builds_as_usual_and_other_settings_are_refused(store, tmp_path):
    settings, folder = store
    missing = replace(settings, clip_store=str(tmp_path / "on-another-machine"))
    assert len(missing.dataset(SPEC, "validation")) == len(settings.dataset(SPEC, "validation"))
    not_stored = replace(SPEC, modality="frame")
    assert len(replace(settings, clip_store=str(folder)).dataset(not_stored, "training")) > 0
    with pytest.raises(ValueError, match="eval_starts=2"):
        replace(settings, clip_store=str(folder), eval_starts=3).dataset(SPEC, "validation")
