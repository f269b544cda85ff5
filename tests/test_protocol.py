"""The evaluation protocol: the official split is kept, validation mirrors it, and a trial never reads the test split."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from collections import Counter

from tnas_plugin.data import SEEDataError, SEEDataset, split_protocol, validation_sequences
from tnas_plugin.measurement import MeasurementSettings, measure_candidate

SPEC = CandidateSpec("event", 2, 8, 16, (StageSpec(4, 3, "max"),), 16, 7)


def names(root, split, **options):
    return {r.info.name for r in SEEDataset(root, split, "frame", eval_starts=1, cache_dir=root.parent / "cache",
                                             **options).sequences}


def database(root):
    return json.loads((root / "emotion.json").read_text())["database"]


def by_subject_copy(tmp_path, tiny_see):
    """The tiny tree re-split by subject: a third of the subjects are tested, the rest trained on."""
    root = tmp_path / "by-subject"
    shutil.copytree(tiny_see, root, ignore=shutil.ignore_patterns(".cache"))
    annotations = json.loads((root / "emotion.json").read_text())
    for name, entry in annotations["database"].items():
        entry["subset"] = "testing" if int(name.split("_")[1]) % 3 == 0 else "training"
    (root / "emotion.json").write_text(json.dumps(annotations))
    return root


def test_the_official_split_is_kept(tiny_see):
    entries = database(tiny_see)
    assert names(tiny_see, "testing") == {n for n, e in entries.items() if e["subset"] == "testing"}
    assert names(tiny_see, "training+validation") == {n for n, e in entries.items() if e["subset"] == "training"}
    assert names(tiny_see, "training") | names(tiny_see, "validation") == names(tiny_see, "training+validation")


def test_validation_holds_out_takes_within_subjects_when_test_subjects_are_trained_on(tiny_see):
    assert split_protocol(tiny_see) == "take"
    train, validation = names(tiny_see, "training"), names(tiny_see, "validation")
    assert validation and not train & validation
    subject = lambda name: name.split("_")[1]
    emotion = lambda name: name.split("_")[-3]
    assert {subject(n) for n in train} == {subject(n) for n in names(tiny_see, "training+validation")}  # none lost
    everything = names(tiny_see, "training+validation")
    for feeling, count in Counter(emotion(n) for n in everything).items():    # stratified by emotion
        assert 0 < sum(emotion(n) == feeling for n in validation) <= round(0.2 * count)
    kept = {(subject(n), emotion(n)) for n in train}                            # never validated on an emotion
    assert {(subject(n), emotion(n)) for n in validation} <= kept              # its subject was not trained on
    assert validation == validation_sequences(tiny_see, seed=0)                # deterministic per seed
    assert len({frozenset(validation_sequences(tiny_see, seed=s)) for s in range(6)}) > 1


def test_validation_holds_out_whole_subjects_when_the_split_is_by_subject(tmp_path, tiny_see):
    root = by_subject_copy(tmp_path, tiny_see)
    assert split_protocol(root) == "subject"
    subjects = lambda split, **o: {n.split("_")[1] for n in names(root, split, **o)}
    assert not subjects("validation") & subjects("training") and not subjects("validation") & subjects("testing")
    assert subjects("validation") | subjects("training") == subjects("training+validation")
    takes = subjects("validation", validation_split="take")                   # the override
    assert takes <= subjects("training", validation_split="take")


def test_validation_split_items_say_validation_and_use_fixed_starts(tiny_see):
    data = SEEDataset(tiny_see, "validation", "event", eval_starts=3, cache_dir=tiny_see.parent / "cache")
    assert data.sampling == "fixed" and len(data) == 3 * len(data.sequences)
    assert {data.metadata(i)["split"] for i in range(len(data))} == {"validation"}


def test_one_training_subject_cannot_be_split_by_subject(tmp_path, tiny_see):
    root = by_subject_copy(tmp_path, tiny_see)
    annotations = json.loads((root / "emotion.json").read_text())
    keep = sorted({name.split("_")[1] for name, e in annotations["database"].items() if e["subset"] == "training"})[0]
    annotations["database"] = {n: e for n, e in annotations["database"].items()
                               if e["subset"] == "testing" or n.split("_")[1] == keep}
    (root / "emotion.json").write_text(json.dumps(annotations))
    with pytest.raises(SEEDataError, match="emotion.json.*at least 2.*--validation-split take"):
        SEEDataset(root, "validation", "frame")


def blank_test_frames(root):
    annotations = database(root)
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


# --- distinct candidates: samples differing only in inert labels are one candidate ---------------------

SMALL_SPACE = dict(resolution=16, stage_choices=(1, 2), channel_choices=(4, 8), kernel_choices=(3, 5),
                   pool_choices=("max",), width_choices=(16,), modality_choices=("event",), frame_choices=(2,),
                   steps_choices=(8,))
DISTINCT_NETWORKS = 4 + 16  # depth 1: 2 channels x 2 kernels; depth 2: (2 x 2)^2 — raw samples: 32


def architecture_metrics(spec) -> dict:
    """A WAR/UAR/energy trade-off computed from the architecture (no data, no training)."""
    size = sum(stage.channels * stage.kernel for stage in spec.stages)
    return {"war": 0.2 + size / 100, "uar": 0.25 + size / 90, "energy_uj": float(size), "default": 0.0}


def test_canonical_sample_resets_only_inert_labels():
    from tnas_plugin.search_spaces import EyeSpaceChoices, TTFSEyeSpace

    space = TTFSEyeSpace(**SMALL_SPACE)
    choices = EyeSpaceChoices(**SMALL_SPACE)
    shallow = {"modality": "event", "frames": 2, "steps_per_window": 8, "stages": 1, "classifier_width": 16,
               "stage0_channels": 8, "stage0_kernel": 5, "stage0_pool": "max",
               "stage1_channels": 8, "stage1_kernel": 5, "stage1_pool": "max"}
    canonical = space.canonical_sample(shallow)
    assert canonical == {**shallow, "stage1_channels": 4, "stage1_kernel": 3}
    assert space.freeze(canonical).spec == space.freeze(shallow).spec == choices.spec(shallow)
    deep = {**shallow, "stages": 2}
    assert space.canonical_sample(deep) == deep


def test_neighbours_are_every_other_network_one_change_away():
    from tnas_plugin.search_spaces import EyeSpaceChoices, canonical_sample

    choices = EyeSpaceChoices(**SMALL_SPACE)
    shallow = {"modality": "event", "frames": 2, "steps_per_window": 8, "stages": 1, "classifier_width": 16,
               "stage0_channels": 8, "stage0_kernel": 5, "stage0_pool": "max",
               "stage1_channels": 8, "stage1_kernel": 5, "stage1_pool": "max"}
    neighbours = choices.neighbours(shallow)
    networks = [choices.spec(sample) for sample in neighbours]
    assert len(set(networks)) == len(networks) and choices.spec(shallow) not in networks
    start = canonical_sample(shallow, choices.hpo_space())
    changed = [{label for label in start if sample[label] != start[label]} for sample in neighbours]
    assert changed == [{"stages"}, {"stage0_channels"}, {"stage0_kernel"}]  # stage 1's labels alone are inert
    assert len(neighbours) == sum(len(values) - 1 for label, values in choices.labels().items() if not label.startswith("stage1_"))


def test_tuner_never_proposes_one_network_twice():
    import nni

    from tnas_plugin.search_spaces import EyeSpaceChoices
    from tnas_plugin.strategies import TNASEvolutionTuner

    choices = EyeSpaceChoices(**SMALL_SPACE)
    tuner = TNASEvolutionTuner(canonical="tnas_plugin.search_spaces.eye_space:canonical_sample",
                               objectives={"war": "max", "uar": "max", "energy_uj": "min"}, population_size=4, seed=0)
    tuner.update_search_space(choices.hpo_space())
    trained = []
    with pytest.raises(nni.NoMoreTrialError):
        for parameter_id in range(100):
            params = tuner.generate_parameters(parameter_id)
            trained.append(choices.spec(params))
            tuner.receive_trial_result(parameter_id, params, architecture_metrics(trained[-1]))
    assert len(trained) == len(set(trained)) == DISTINCT_NETWORKS


def test_nas_strategy_never_trains_one_network_twice():
    import nni
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import SimplifiedModelSpace

    from tnas_plugin.search_spaces import TTFSEyeSpace
    from tnas_plugin.strategies import TNASEvolution

    trained = []

    def trial(model):
        trained.append(model.spec)
        nni.report_final_result(architecture_metrics(model.spec))

    engine = SequentialExecutionEngine(max_model_count=60, continue_on_failure=True)
    strategy = TNASEvolution(seed=0, population_size=4, objectives={"war": "max", "uar": "max", "energy_uj": "min"})
    strategy.initialize(SimplifiedModelSpace.from_model(TTFSEyeSpace(**SMALL_SPACE), FunctionalEvaluator(trial)), engine)
    strategy.run()
    assert len(trained) == len(set(trained)) == DISTINCT_NETWORKS


def test_a_trial_that_collapses_to_one_class_fails_with_that_reason(tiny_see, tmp_path):
    from tnas_plugin.strategies.reporting import CollapsedCandidate, measure_and_report

    # Next to no learning (seeded initial weights, lr 1e-6): the network answers one class for every clip
    options = dict(epochs=2, lr=1e-6, synops_samples=4, cache_dir=str(tmp_path / "cache"))
    settings = MeasurementSettings.from_options(tiny_see, **options)
    assert measure_candidate(SPEC, build_ann(SPEC), settings).metrics["predicted_classes"] == 1
    with pytest.raises(CollapsedCandidate, match="predicts one class for all .* validation clips"):
        measure_and_report(SPEC, build_ann(SPEC), str(tiny_see), **options)


def test_default_objectives_include_energy_and_the_handcrafted_network_is_seeded():
    from tnas_plugin.jobs.baselines import HANDCRAFTED_TTFS
    from tnas_plugin.jobs.commands import EFFICIENCY
    from tnas_plugin.jobs.search_job import SearchOptions
    from tnas_plugin.search_spaces import EyeSpaceChoices, TTFSEyeSpace

    options = SearchOptions()
    assert options.objectives() == {"war": "max", "uar": "max", "energy_uj": "min"}
    assert SearchOptions(efficiency=EFFICIENCY["none"]).objectives() == {"war": "max", "uar": "max"}
    assert SearchOptions(efficiency=EFFICIENCY["synops"]).objectives()["synops"] == "min"
    seeded, *neighbours = options.initial_population()
    assert TTFSEyeSpace(resolution=options.resolution).freeze(seeded).spec == HANDCRAFTED_TTFS
    assert neighbours == EyeSpaceChoices(resolution=options.resolution).neighbours(seeded)


def test_finalists_are_promoted_in_turn_overall_and_within_the_handcrafted_cost_its_half_and_quarter():
    from tnas_plugin.jobs.search_job import SearchOptions, Trial, finalist_budget, pick_finalists

    names = {}

    def entry(name, uar, energy, params=None):
        trial = Trial(params or {"name": name}, {"uar": uar, "war": uar, "energy_uj": energy})
        names[id(trial)] = name
        return trial

    options = SearchOptions()
    handcrafted = entry("handcrafted", 0.70, 60.0, options.initial_population()[0])
    trials = [entry("wide", 0.72, 300.0), handcrafted, entry("strided", 0.68, 28.0), entry("tiny", 0.30, 6.0),
              entry("narrow", 0.50, 14.0), entry("deep", 0.69, 130.0), entry("slim", 0.66, 25.0),
              entry("small", 0.45, 12.0), Trial({"name": "failed"}, None)]
    budget = finalist_budget(options, trials)
    assert budget == 60.0
    picked = [names[id(e)] for e in pick_finalists(trials, 4, "energy_uj", budget)]
    assert picked == ["wide", "handcrafted", "strided", "narrow"]  # overall, <= 60, <= 30, <= 15 µJ
    picked = [names[id(e)] for e in pick_finalists(trials, 8, "energy_uj", budget)]
    assert picked == ["wide", "handcrafted", "strided", "narrow", "deep", "slim", "small", "tiny"]
    assert len(pick_finalists(trials, 20, "energy_uj", budget)) == 8  # each successful trial at most once
    assert [names[id(e)] for e in pick_finalists(trials, 3, None)] == ["wide", "handcrafted", "deep"]
    assert finalist_budget(SearchOptions(efficiency=None), trials) is None
