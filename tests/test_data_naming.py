"""SEE sequence names and label spellings (docs/ARCHITECTURE.md, "Data")."""
import pytest

from tnas_plugin.data import EMOTIONS, SequenceName, normalize_emotion, normalize_lighting


def test_parses_the_documented_example():
    info = SequenceName.parse("1_001_man_24_Master_normal_angry_45_take000")
    assert (info.number, info.subject, info.sex, info.age, info.degree) == (1, "001", "man", 24, "Master")
    assert (info.lighting, info.emotion, info.length, info.take) == ("normal", "anger", 45, 0)


def test_degree_may_contain_underscores():
    assert SequenceName.parse("7_012_woman_30_high_school_HDR_neutraL_20_take003").degree == "high_school"


@pytest.mark.parametrize("word, emotion", [("angry", "anger"), ("ANGER", "anger"), ("neutraL", "neutral"),
                                           ("Neutral", "neutral"), ("surprise", "surprise"), ("Happiness", "happiness")])
def test_labels_match_case_insensitively(word, emotion):
    assert normalize_emotion(word) == emotion


@pytest.mark.parametrize("word", ["bored", "happy", "", "neutra"])
def test_unknown_labels_are_not_guessed(word):
    with pytest.raises(ValueError, match="unknown emotion"):
        normalize_emotion(word)


def test_lighting_spellings():
    assert [normalize_lighting(w) for w in ("normal", "Overexposed", "Low", "HDR")] == ["normal", "overexposed",
                                                                                        "low", "hdr"]
    with pytest.raises(ValueError, match="lighting"):
        normalize_lighting("dim")


@pytest.mark.parametrize("name", ["1_001_man_24_normal_angry_45_take000",        # 8 fields
                                  "x_001_man_24_Master_normal_angry_45_take000",  # seq# not a number
                                  "1_001_man_24_Master_normal_angry_45_run000",   # no take<k>
                                  "1_001_man_24_Master_normal_bored_45_take000"])  # unknown emotion
def test_malformed_names_are_rejected(name):
    with pytest.raises(ValueError):
        SequenceName.parse(name)


def test_format_round_trips_in_released_spelling():
    for emotion in EMOTIONS:
        name = SequenceName.format(3, "002", "woman", 21, "Doctor", "low", emotion, 30, 4)
        info = SequenceName.parse(name)
        assert (info.emotion, info.lighting, info.take, info.length) == (emotion, "low", 4, 30)
    assert SequenceName.format(1, "001", "man", 24, "Master", "normal", "neutral", 9, 0) == \
        "1_001_man_24_Master_normal_neutral_9_take000"
