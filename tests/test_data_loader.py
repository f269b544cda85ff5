"""SEEDataset on small hand-written trees in the real SEE naming: labels, metadata, Ex-Sy clips, bad input, cache."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import tnas_plugin.data.cache as cache_module
from tnas_plugin.data import EMOTIONS, SEEDataError, SEEDataset
from tnas_plugin.jobs.cli import main

# (name, subset, label as written in emotion.json, emotion folder): released spellings, mixed case.
SEQUENCES = [
    ("1_001_man_24_Master_normal_angry_8_take000", "training", "angry", "angry"),
    ("2_001_man_24_Master_Low_neutraL_7_take001", "training", "neutraL", "neutraL"),
    ("3_002_woman_22_undergraduate_HDR_happiness_6_take000", "training", "Happiness", "happiness"),
    ("4_003_woman_30_Doctor_Overexposed_surprise_9_take000", "testing", "surprise", "surprise"),
    ("5_003_woman_30_Doctor_normal_fear_6_take001", "testing", "FEAR", "fear"),
]
BAD = SEQUENCES[0][0]  # the sequence the bad-input cases break
SIZE = (12, 10)


def grey(level: int) -> Image.Image:
    return Image.fromarray(np.full(SIZE, level, np.uint8))


def frame_level(i: int) -> int:
    """Intensity frame i is uniformly this grey, so a clip's frame indices can be read back."""
    return 10 + 20 * i


def event_level(i: int) -> int:
    """Event frames cycle through OFF (darker than 128), ON (brighter) and JPEG-ringing-sized noise."""
    return (68, 188, 134)[i % 3]


def write_tree(root):
    entries = {}
    for name, subset, label, folder in SEQUENCES:
        length = int(name.split("_")[-2])
        for modality, level in (("frame", frame_level), ("event", event_level)):
            seq_dir = root / modality / folder / name
            seq_dir.mkdir(parents=True)
            for i in range(length):
                grey(level(i)).save(seq_dir / f"{i:05d}.jpg", quality=95)
        entries[name] = {"subset": subset, "annotations": {"label": label, "segment": [0, length]}}
    (root / "emotion.json").write_text(json.dumps(entries))
    return root


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "SEE")


def decoded_indices(clip_channel: torch.Tensor) -> list[int]:
    return [round((float(frame.mean()) * 255 - 10) / 20) for frame in clip_channel]


def test_reads_labels_subjects_and_lighting(tree):
    train = SEEDataset(tree, "training", "frame", validation_fraction=0)
    assert train.classes == list(EMOTIONS)
    rows = [train.metadata(i) for i in range(len(train))]
    assert [r["name"] for r in rows] == [s[0] for s in SEQUENCES[:3]]
    assert [r["emotion"] for r in rows] == ["anger", "neutral", "happiness"]
    assert train.targets == [EMOTIONS.index(e) for e in ("anger", "neutral", "happiness")]
    assert [r["subject"] for r in rows] == ["001", "001", "002"]
    assert [r["lighting"] for r in rows] == ["normal", "low", "hdr"]
    assert [(r["sex"], r["age"], r["degree"], r["take"]) for r in rows][1] == ("man", 24, "Master", 1)
    assert [train[i][1] for i in range(len(train))] == train.targets
    assert train.subjects == ["001", "002"]
    frame = train.to_frame()
    assert list(frame["lighting"]) == ["normal", "low", "hdr"] and list(frame["label"]) == train.targets


def test_evaluation_uses_a_fixed_seeded_set_of_start_points(tree):
    test = SEEDataset(tree, "testing", "frame", clip_length=2, skip=1, eval_starts=5)
    assert len(test) == 2 * 5 and test.sampling == "fixed"
    starts = [test.metadata(i)["start"] for i in range(len(test))]
    assert starts == [SEEDataset(tree, "testing", "frame", clip_length=2, skip=1, eval_starts=5).metadata(i)["start"]
                      for i in range(len(test))]
    assert all(0 <= s <= 9 - 3 for s in starts[:5]) and all(0 <= s <= 6 - 3 for s in starts[5:])
    other_seed = SEEDataset(tree, "testing", "frame", clip_length=2, skip=1, eval_starts=5, seed=1)
    assert starts != [other_seed.metadata(i)["start"] for i in range(len(test))]
    for i in range(len(test)):  # every item is the same clip every time
        clip, label = test[i]
        assert decoded_indices(clip[:, 0]) == [starts[i], starts[i] + 2]
        assert torch.equal(clip, test[i][0]) and label == test.targets[i]


def test_ex_sy_clips_and_channel_layout(tree):
    data = SEEDataset(tree, "testing", "both", clip_length=3, skip=1, eval_starts=4)
    assert data.clip_shape == (3, 3, *SIZE)
    clip, _ = data[0]
    assert clip.shape == (3, 3, *SIZE) and clip.dtype == torch.float32
    assert float(clip.min()) >= 0 and float(clip.max()) <= 1
    start = data.metadata(0)["start"]
    assert decoded_indices(clip[:, 2]) == [start, start + 2, start + 4]   # intensity is the last channel
    for t, index in enumerate([start, start + 2, start + 4]):             # event ON / OFF channels
        on, off = float(clip[t, 0].max()), float(clip[t, 1].max())
        assert [on > 0.3, off > 0.3, on == 0, off == 0] == [[False, True, True, False], [True, False, False, True],
                                                            [False, False, True, True]][index % 3]
    grey_events = SEEDataset(tree, "testing", "event", event_format="grey", eval_starts=1)
    assert grey_events.clip_shape[1] == 1


def test_short_sequences_repeat_their_frames_cyclically(tree):
    data = SEEDataset(tree, "training", "frame", validation_fraction=0, clip_length=4, skip=3)   # span 13 > 6..8 frames
    assert list(data.frame_indices(2, 0)) == [0, 4, 0, 4]
    assert decoded_indices(data[2][0][:, 0]) == [0, 4, 0, 4]


def test_random_starts_are_seeded_and_vary(tree):
    def draws(seed):
        data = SEEDataset(tree, "training", "frame", validation_fraction=0, clip_length=2, skip=0, seed=seed)
        return [decoded_indices(data[0][0][:, 0])[0] for _ in range(30)]
    first = draws(3)
    assert first == draws(3) and len(set(first)) > 2 and max(first) <= 6


def test_resolution_and_subject_filter(tree, tmp_path):
    data = SEEDataset(tree, "training", "both", validation_fraction=0, size=(6, 5), subjects=["002"], cache_dir=tmp_path / "c")
    assert data.clip_shape == (4, 3, 6, 5) and data[0][0].shape == (4, 3, 6, 5)
    assert [data.metadata(i)["subject"] for i in range(len(data))] == ["002"]
    assert (tmp_path / "c" / "event" / "6x5").is_dir()


def test_rejects_bad_arguments(tree):
    for kwargs in ({"modality": "audio"}, {"on_error": "ignore"}, {"sampling": "all"}, {"size": (0, 4)},
                   {"event_format": "rgb"}, {"split": "valid"},
                   {"split": "validation", "validation_fraction": 0}, {"validation_fraction": 1.0}):
        with pytest.raises(ValueError):
            SEEDataset(tree, **{"split": "training", **kwargs})


# --- bad input: each case raises naming the path, or is skipped and listed --------------------------------

def seq_dir(root, modality="frame", name=BAD, folder="angry"):
    return root / modality / folder / name


def remove_frame(root):
    (seq_dir(root) / "00003.jpg").unlink()


def remove_last_frame(root):
    (seq_dir(root) / "00007.jpg").unlink()
    (seq_dir(root, "event") / "00007.jpg").unlink()


def corrupt_frame(root):
    (seq_dir(root) / "00002.jpg").write_bytes(b"this is not a JPEG")


def truncate_frame(root):
    path = seq_dir(root, "event") / "00005.jpg"
    path.write_bytes(path.read_bytes()[:150])


def remove_folder(root):
    shutil.rmtree(seq_dir(root, "event"))


def orphan_folder(root):
    extra = root / "frame" / "fear" / "9_004_man_40_Doctor_Low_fear_6_take000"
    extra.mkdir()
    grey(10).save(extra / "00000.jpg")


def unknown_label(root):
    edit_entry(root, label="bored")


def label_disagrees_with_name(root):
    edit_entry(root, label="sadness")


def folder_disagrees_with_label(root):
    for modality in ("event", "frame"):
        target = root / modality / "sadness"
        target.mkdir(exist_ok=True)
        seq_dir(root, modality).rename(target / BAD)


def empty_sequence(root):
    for jpeg in seq_dir(root).glob("*.jpg"):
        jpeg.unlink()


def count_mismatch(root):
    grey(10).save(seq_dir(root, "event") / "00008.jpg")


def bad_segment(root):
    edit_entry(root, segment=[5, 3])


def bad_subset(root):
    path = root / "emotion.json"
    entries = json.loads(path.read_text())
    entries[BAD]["subset"] = "validation"
    path.write_text(json.dumps(entries))


def duplicate_folder(root):
    shutil.copytree(seq_dir(root), root / "frame" / "sadness" / BAD)


def unknown_emotion_folder(root):
    (root / "event" / "bored" / "x").mkdir(parents=True)


def edit_entry(root, **annotations):
    path = root / "emotion.json"
    entries = json.loads(path.read_text())
    entries[BAD]["annotations"].update(annotations)
    path.write_text(json.dumps(entries))


def number_from_one(root):
    folder = seq_dir(root, "event")
    for i in reversed(range(8)):
        (folder / f"{i:05d}.jpg").rename(folder / f"{i + 1:05d}.jpg")


def event_one_frame_short(root):
    (seq_dir(root, "event") / "00007.jpg").unlink()


CASES = [  # real damage: (break the tree, path expected in the message, words expected in the message)
    (remove_frame, "frame/angry/" + BAD + "/00003.jpg", "missing JPEG (gap"),
    (corrupt_frame, "frame/angry/" + BAD + "/00002.jpg", "corrupt JPEG"),
    (truncate_frame, "event/angry/" + BAD + "/00005.jpg", "corrupt JPEG"),
    (unknown_label, "emotion.json", "unknown emotion label 'bored'"),
    (label_disagrees_with_name, "emotion.json", "disagrees with the name"),
    (folder_disagrees_with_label, "event/sadness/" + BAD, "disagrees with label 'angry'"),
    (empty_sequence, "frame/angry/" + BAD, "empty sequence"),
    (bad_segment, "emotion.json", "segment"),
    (bad_subset, "emotion.json", "subset 'validation' is not"),
    (duplicate_folder, "frame/sadness/" + BAD, "several emotion folders"),
]
TOLERATED = [  # what the SEE authors' loader tolerates: (change, path named in the note, words, sequence kept)
    (remove_last_frame, "event/angry/" + BAD, "1 frame(s) missing at the end of segment [0, 8]: using [0, 7]", True),
    (event_one_frame_short, "event/angry/" + BAD, "event/ ends 1 frame(s) early", True),
    (count_mismatch, "event/angry/" + BAD, "1 frame(s) more than the other modality", True),
    (number_from_one, "event/angry/" + BAD, "frames numbered from 1", True),
    (remove_folder, "event/angry/" + BAD, "skipped: listed in emotion.json but its folder is missing", False),
    (orphan_folder, "frame/fear/9_004_man_40_Doctor_Low_fear_6_take000", "ignored: no entry in emotion.json", None),
    (unknown_emotion_folder, "event/bored", "ignored: not an emotion folder", None),
]


@pytest.mark.parametrize("breaker, path, words", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_raises_with_the_path(tree, breaker, path, words):
    breaker(tree)
    with pytest.raises(SEEDataError) as info:
        SEEDataset(tree, "training", "both", validation_fraction=0)
    assert str(info.value.path).endswith(path) and str(tree / path) in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize("breaker, path, words", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_is_skipped_and_listed(tree, breaker, path, words):
    breaker(tree)
    data = SEEDataset(tree, "training", "both", validation_fraction=0, on_error="skip")
    assert [str(p.path) for p in data.skipped] == [str(tree / path)] and words in data.skipped[0].problem
    names = [r.info.name for r in data.sequences]
    assert BAD not in names and data.skipped[0].sequence == BAD
    assert set(names) >= {s[0] for s in SEQUENCES[1:3]}


@pytest.mark.parametrize("change, path, words, kept", TOLERATED, ids=[c[0].__name__ for c in TOLERATED])
def test_what_the_authors_loader_tolerates_loads_and_is_named(tree, change, path, words, kept, capsys):
    change(tree)
    data = SEEDataset(tree, "training", "both", validation_fraction=0)
    assert not data.skipped and [(str(n.path), n.action) for n in data.notes if words in n.action] == \
        [(str(tree / path), next(n.action for n in data.notes if words in n.action))]
    names = [r.info.name for r in data.sequences]
    assert (BAD in names) == (kept is not False) and set(names) >= {s[0] for s in SEQUENCES[1:3]}
    if kept:
        clip, _ = data[names.index(BAD)]
        assert clip.shape[0] == 4 and decoded_indices(clip[:, 2])[0] >= 0
    assert main(["data", "check", str(tree)]) == 0
    report = capsys.readouterr().out
    assert f"tolerated: {tree / path}: {words}" in report and "ok (1 tolerated, listed above)" in report


def test_count_mismatch_matters_only_when_both_modalities_are_used(tree):
    count_mismatch(tree)
    assert not SEEDataset(tree, "training", "frame", validation_fraction=0).notes


@pytest.mark.parametrize("content, words", [(None, "no annotation file: looked for emotion.json and "
                                             "emotion_new_adjust2.json"), ("{not json", "unreadable"),
                                            ("[]", "non-empty object")])
def test_unusable_annotation_file_raises_even_when_skipping(tree, content, words):
    path = tree / "emotion.json"
    path.unlink() if content is None else path.write_text(content)
    with pytest.raises(SEEDataError, match=words) as info:
        SEEDataset(tree, "training", validation_fraction=0, on_error="skip")
    assert info.value.path == (tree if content is None else path)


def authors_code_layout(tree):
    """The layout the SEE authors' code reads: event_30/ and emotion_new_adjust2.json, folders named after the
    labels, the ``{"labels", "database"}`` file."""
    (tree / "event").rename(tree / "event_30")
    entries = json.loads((tree / "emotion.json").read_text())
    (tree / "emotion.json").unlink()
    (tree / "emotion_new_adjust2.json").write_text(json.dumps({"labels": LABELS, "database": entries}))
    return tree


LABELS = ["angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]


def test_both_real_layouts_load_with_no_renaming(tree, capsys):
    documented = [r.info.name for r in SEEDataset(tree, "training", "both", validation_fraction=0).sequences]
    authors_code_layout(tree)
    data = SEEDataset(tree, "training", "both", validation_fraction=0)
    assert [r.info.name for r in data.sequences] == documented
    assert str(data.sequences[0].files["event"][0]).startswith(str(tree / "event_30"))
    assert main(["data", "check", str(tree)]) == 0
    assert "training: 3 sequences" in capsys.readouterr().out


def test_annotation_file_of_any_name(tree, tmp_path):
    (tree / "emotion.json").rename(tree / "labels-v2.json")
    for given in ("labels-v2.json", tree / "labels-v2.json"):
        assert len(SEEDataset(tree, "training", validation_fraction=0, annotations=given).sequences) == 3
    with pytest.raises(SEEDataError, match="annotation file is missing"):
        SEEDataset(tree, "training", validation_fraction=0, annotations="nope.json")


def test_class_indices_follow_a_permuted_labels_list(tree):
    permuted = ["surprise", "neutral", "angry", "sadness", "fear", "happiness", "disgust"]
    path = tree / "emotion.json"
    path.write_text(json.dumps({"labels": permuted, "database": json.loads(path.read_text())}))
    data = SEEDataset(tree, "training", validation_fraction=0)
    assert data.classes == ["surprise", "neutral", "anger", "sadness", "fear", "happiness", "disgust"]
    assert data.targets == [2, 1, 5]                                   # anger, neutral, happiness
    path.write_text(json.dumps({"labels": permuted[:6] + ["bored"], "database": {}}))
    with pytest.raises(SEEDataError, match="labels: unknown emotion label 'bored'"):
        SEEDataset(tree, "training", validation_fraction=0)


# --- cache --------------------------------------------------------------------------------------------------

def test_cache_is_reused_and_invalidated_when_a_source_jpeg_changes(tree, monkeypatch):
    first = SEEDataset(tree, "testing", "frame", eval_starts=3)
    cached = sorted((tree / ".cache" / "frame" / "native").glob("*.npy"))
    assert len(cached) == 2

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")
    monkeypatch.setattr(cache_module, "read_frames", no_decoding)
    second = SEEDataset(tree, "testing", "frame", eval_starts=3)
    assert all(torch.equal(first[i][0], second[i][0]) for i in range(len(first)))
    monkeypatch.undo()

    changed = seq_dir(tree, "frame", "4_003_woman_30_Doctor_Overexposed_surprise_9_take000", "surprise") / "00000.jpg"
    grey(250).save(changed)
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = SEEDataset(tree, "testing", "frame", clip_length=1, eval_starts=3, sampling="fixed")
    assert abs(float(third._arrays[0][0][0].mean()) - 250) < 3
    now = sorted((tree / ".cache" / "frame" / "native").glob("*.npy"))
    assert len(now) == 2 and now != cached   # the stale file was replaced, the other kept
    assert cached[1] in now or cached[0] in now


def test_cache_dir_can_be_chosen(tree, tmp_path):
    SEEDataset(tree, "training", "event", validation_fraction=0, cache_dir=tmp_path / "elsewhere")
    assert len(list((tmp_path / "elsewhere" / "event" / "native").glob("*.npy"))) == 3
    assert not (tree / ".cache").exists()


def test_works_with_dataloader_workers(tree):
    data = SEEDataset(tree, "training", "both", validation_fraction=0, clip_length=2, skip=0)
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2,
                                         generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(2, 2, 3, *SIZE), (1, 2, 3, *SIZE)]
    assert torch.cat([b[1] for b in batches]).tolist() == data.targets
