"""The evaluation protocol: validation subjects are held out of training, and a trial never reads the test split."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.data import SEEDataError, SEEDataset, validation_subjects
from tnas_plugin.measurement import MeasurementSettings, measure_candidate

SPEC = CandidateSpec("event", 2, 8, 16, (StageSpec(4, 3, "max"),), 16, 7)


def subjects(root, split, **options):
    return set(SEEDataset(root, split, "frame", eval_starts=1, cache_dir=root.parent / "cache", **options).subjects)


def test_validation_subjects_are_whole_training_subjects_disjoint_from_training_and_testing(tiny_see):
    train, validation, test = (subjects(tiny_see, split) for split in ("training", "validation", "testing"))
    everything = subjects(tiny_see, "training", validation_fraction=0)
    assert validation and train and test
    assert not validation & train and not validation & test and not train & test
    assert validation | train == everything                       # nothing lost: validation is carved from training
    assert sorted(validation) == validation_subjects(tiny_see)    # deterministic per seed
    assert validation_subjects(tiny_see, seed=3) == validation_subjects(tiny_see, seed=3)
    seeds = {tuple(validation_subjects(tiny_see, seed=s)) for s in range(6)}
    assert len(seeds) > 1                                         # the seed picks them
    assert len(validation_subjects(tiny_see, 0.5)) == round(0.5 * len(everything))
    assert validation_subjects(tiny_see, 0.0) == []


def test_validation_split_items_say_validation_and_use_fixed_starts(tiny_see):
    data = SEEDataset(tiny_see, "validation", "event", eval_starts=3, cache_dir=tiny_see.parent / "cache")
    assert data.sampling == "fixed" and len(data) == 3 * len(data.sequences)
    assert {data.metadata(i)["split"] for i in range(len(data))} == {"validation"}


def test_one_training_subject_cannot_be_split(tmp_path, tiny_see):
    root = tmp_path / "one"
    shutil.copytree(tiny_see, root, ignore=shutil.ignore_patterns(".cache"))
    annotations = json.loads((root / "emotion.json").read_text())
    keep = sorted({name.split("_")[1] for name, e in annotations.items() if e["subset"] == "training"})[0]
    annotations = {n: e for n, e in annotations.items() if e["subset"] == "testing" or n.split("_")[1] == keep}
    (root / "emotion.json").write_text(json.dumps(annotations))
    with pytest.raises(SEEDataError, match="emotion.json.*at least 2"):
        SEEDataset(root, "validation", "frame")


def blank_test_frames(root):
    annotations = json.loads((root / "emotion.json").read_text())
    blanked = 0
    for path in root.glob("*/*/*/*.jpg"):
        if annotations[path.parent.name]["subset"] == "testing":
            level = 128 if path.parts[-4] == "event" else 0
            Image.fromarray(np.full((16, 16), level, np.uint8)).save(path)
            blanked += 1
    return blanked


def test_blanking_the_test_split_leaves_the_fitness_unchanged(tmp_path, tiny_see):
    root = tmp_path / "see"
    shutil.copytree(tiny_see, root, ignore=shutil.ignore_patterns(".cache"))
    settings = MeasurementSettings.from_options(root, epochs=1, finetune_epochs=1, synops_samples=4,
                                                cache_dir=str(tmp_path / "cache-1"))
    before = measure_candidate(SPEC, build_ann(SPEC), settings).metrics
    assert blank_test_frames(root) > 0
    settings.cache_dir = str(tmp_path / "cache-2")  # decoded afresh from the blanked files
    after = measure_candidate(SPEC, build_ann(SPEC), settings).metrics
    assert after == before
