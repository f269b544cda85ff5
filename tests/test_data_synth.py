"""Synthetic SEE-like generator: the real form, determinism, split within subjects, class mix, sensor models, CLI."""
import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from tnas_plugin.jobs.cli import main
from tnas_plugin.data import EMOTIONS, LIGHTINGS, SEEDataset, SynthConfig, synthesize
from tnas_plugin.data.events import event_counts, event_frames
from tnas_plugin.data.expressions import APEX, subject_style, timeline
from tnas_plugin.data.render import Appearance, Pose, render
from tnas_plugin.data.synth import SEE_CLASS_COUNTS, plan

TINY = SynthConfig(subjects=3, size=(16, 16), sequences_per_subject=14, frames=(6, 8))


def tree_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "SEE"
    summary = synthesize(root, TINY)
    return root, summary


def test_writes_the_see_layout_that_the_loader_reads(tiny):
    root, summary = tiny
    assert summary["sequences"] == 42 and summary["training"] + summary["testing"] == 42
    assert {p.name for p in (root / "frame").iterdir()} <= {"angry", "disgust", "fear", "happiness", "neutral",
                                                           "sadness", "surprise"}
    annotations = json.loads((root / "emotion.json").read_text())
    assert annotations["labels"] == ["angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
    assert {"Doctor", "Master", "undergraduate"} >= {name.split("_")[4] for name in annotations["database"]}
    for split in ("training", "testing"):
        data = SEEDataset(root, split, "both", cache_dir=root.parent / "cache", eval_starts=2)
        assert not data.skipped and data.clip_shape == (4, 3, 16, 16)
        for record in data.sequences:
            assert record.files["event"][0].stat().st_size > 0 and len(record.files["frame"]) == record.info.length


def test_same_seed_gives_identical_files_and_another_seed_does_not(tiny, tmp_path):
    root, _ = tiny
    synthesize(tmp_path / "again", TINY, workers=2)   # parallel rendering writes the same bytes
    assert tree_bytes(tmp_path / "again") == tree_bytes(root)
    synthesize(tmp_path / "other", replace(TINY, seed=1))
    other = tree_bytes(tmp_path / "other")
    assert other.keys() != tree_bytes(root).keys() or other != tree_bytes(root)


def authors_reading_rule(root, subset):
    """A short re-implementation of the SEE authors' reading rule: <modality>/<label>/<name>/{i:05d}.jpg for i in
    range(*segment), the class index being the label's position in ``labels``."""
    data = json.loads((root / "emotion.json").read_text())
    items = []
    for name, entry in data["database"].items():
        if entry["subset"] == subset:
            label = entry["annotations"]["label"]
            paths = [root / modality / label / name / f"{i:05d}.jpg" for modality in ("event", "frame")
                     for i in range(*entry["annotations"]["segment"])]
            items.append((name, data["labels"].index(label), paths))
    return items


def test_authors_reading_rule_finds_every_frame(tiny):
    root, _ = tiny
    for subset in ("training", "testing"):
        items = authors_reading_rule(root, subset)
        assert items and all(path.is_file() for _, _, paths in items for path in paths)
        ours = SEEDataset(root, "testing" if subset == "testing" else "training+validation", "frame",
                          cache_dir=root.parent / "cache", eval_starts=1)
        by_name = {name: label for name, label, _ in items}
        assert {r.info.name for r in ours.sequences} == set(by_name)
        assert all(ours.classes.index(r.info.emotion) == by_name[r.info.name] for r in ours.sequences)


def test_split_is_within_subjects_by_take_in_see_proportions(tiny):
    root, _ = tiny
    subjects = {split: set(SEEDataset(root, split, "frame", cache_dir=root.parent / "cache", eval_starts=1).subjects)
                for split in ("training+validation", "testing")}
    assert subjects["training+validation"] == subjects["testing"]
    for config in (SynthConfig(subjects=24), SynthConfig(subjects=89, seed=5, sequences_per_subject=27)):
        planned = plan(config)
        by_split = Counter(seq.split for seq in planned)
        assert abs(by_split["testing"] / len(planned) - 767 / 2405) < 0.02
        for subject in {seq.info.subject for seq in planned}:
            mine = [seq for seq in planned if seq.info.subject == subject]
            assert len({seq.info.lighting for seq in mine}) == 1          # one lighting per subject
            assert {seq.split for seq in mine} == {"training", "testing"}
            takes = Counter((seq.info.emotion, seq.info.take) for seq in mine)
            assert max(takes.values()) == 1                                   # takes numbered per (subject, emotion)
            for emotion in {seq.info.emotion for seq in mine}:
                numbers = sorted(seq.info.take for seq in mine if seq.info.emotion == emotion)
                assert numbers == list(range(len(numbers)))
    lengths = [seq.info.length for seq in plan(SynthConfig(subjects=89, sequences_per_subject=27))]
    assert min(lengths) == 18 and max(lengths) <= 131 and 48 < np.mean(lengths) < 56


def test_class_mix_follows_see_and_lighting_is_balanced():
    sequences = plan(SynthConfig(subjects=111, sequences_per_subject=27))
    per_subject = Counter((s.info.subject, s.info.emotion) for s in sequences)
    assert min(per_subject.values()) >= 2                       # every emotion both trained on and tested
    emotions = Counter(s.info.emotion for s in sequences)
    extra = np.array([emotions[e] - 2 * 111 for e in EMOTIONS], float)  # the rest follows SEE's mix
    see = np.array([SEE_CLASS_COUNTS[e] for e in EMOTIONS], float)
    assert np.abs(extra / extra.sum() - see / see.sum()).max() < 0.01
    assert emotions["surprise"] > 1.2 * emotions["happiness"]   # imbalanced like SEE's 130 vs 89
    lighting = Counter(s.info.lighting for s in sequences)
    assert set(lighting) == set(LIGHTINGS) and max(lighting.values()) - min(lighting.values()) <= 27
    assert all(18 <= s.info.length <= 131 for s in sequences)


def test_event_model_signs_and_thresholds():
    rng = np.random.default_rng(0)
    steady = np.full((5, 4, 4), 0.5)
    quiet = dict(mismatch=0.0, detect=1.0, noise_rate=0.0, hot_pixels=0)
    assert not event_counts(steady, rng, **quiet).any()
    floor = 0.004  # events.DARK_FLOOR: the log is taken of radiance + floor
    brighter = (0.5 + floor) * np.exp(0.5 * np.arange(5))[:, None, None] - floor + np.zeros((5, 4, 4))
    counts = event_counts(brighter, rng, **quiet)                          # +0.5 log units per frame, C = 0.2
    assert (counts[0] == 0).all() and (counts[1:] >= 2).all() and (np.abs(counts.sum(0) - 10) <= 1).all()
    assert (event_counts(brighter[::-1], rng, **quiet)[1:] <= -2).all()
    noisy = event_counts(np.full((40, 16, 16), 0.5), rng, noise_rate=0.05, hot_pixels=0)
    assert 0.02 < np.mean(noisy != 0) < 0.08
    assert event_frames(np.array([[[0, 1, -1, 5]]])).tolist() == [[[128, 178, 78, 255]]]


def pose(length=3, **units):
    zeros = {name: np.zeros(length) for name in Pose.names()}
    return Pose(**{**zeros, **{k: np.full(length, v, float) for k, v in units.items()}})


def test_renderer_is_vectorised_and_responds_to_action_units():
    face = Appearance.sample(np.random.default_rng(1))
    rest = render(face, pose(), (32, 40))
    assert rest.shape == (3, 32, 40) and rest.dtype == np.float32 and 0 <= rest.min() and rest.max() <= 1
    # a pupil pixel (on the side away from the glint) is dark, and covered by skin in a blink
    open_eye, closed = (render(face, pose(blink=b), (64, 64))[0] for b in (0.0, 1.0))
    row, col = round((face.eye_y + 0.06 + 1) / 2 * 63), round((face.eye_x - 0.04 + 1) / 2 * 63)
    assert open_eye[row, col] < 0.1 and closed[row, col] > 0.3
    diff = lambda a, b: float(np.abs(render(face, pose(**a), (32, 40)) - render(face, pose(**b), (32, 40))).mean())
    fear, surprise, anger, disgust = ({k: v for k, v in APEX[e].items() if k != "gaze_y"}
                                      for e in ("fear", "surprise", "anger", "disgust"))
    # confusable pairs differ, but less than each differs from rest
    assert 0 < diff(fear, surprise) < diff(fear, {}) and 0 < diff(anger, disgust) < diff(anger, {})


def test_timelines_start_neutral_and_blink():
    style = subject_style(np.random.default_rng(0), variation=0.0)
    p = timeline("surprise", 30, style, np.random.default_rng(3))
    assert p.lid_raise[-1] > 0.4 and p.lid_raise[0] < 0.1 + p.lid_raise[-1] / 2
    assert timeline("neutral", 30, style, np.random.default_rng(3)).lid_raise.max() < 0.2
    blinks = [timeline("neutral", 30, {**style, "blink_rate": 0.2}, np.random.default_rng(s)).blink.max()
              for s in range(5)]
    assert max(blinks) == 1.0


def test_cli_synth_and_check(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["data", "synth", "--out", str(out), "--subjects", "2", "--seed", "4", "--size", "16x12"]) == 0
    assert "wrote 42 sequences" in capsys.readouterr().out
    assert SEEDataset(out, "testing", "frame", eval_starts=1).clip_shape[2:] == (16, 12)
    assert main(["data", "synth", "--out", str(out)]) == 2                       # refuses to mix two trees
    assert main(["data", "check", str(out)]) == 0 and capsys.readouterr().out.rstrip().endswith("ok")
    broken = next((out / "frame").rglob("00003.jpg"))
    broken.write_bytes(b"garbage")
    assert main(["data", "check", str(out)]) == 1
    report = capsys.readouterr().out
    assert f"bad: {broken}: corrupt JPEG" in report and "1 problems" in report
    with pytest.raises(SystemExit):
        main(["data", "synth", "--out", str(tmp_path / "x"), "--size", "64"])
