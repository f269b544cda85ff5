"""SEE vocabulary: emotions, lighting conditions and sequence names (Zhang et al., SIGGRAPH 2023).

A sequence is named ``<seq#>_<ID>_<sex>_<age>_<degree>_<lighting>_<emotion>_<length>_take<k>``, e.g.
``1_001_man_24_Master_normal_angry_45_take000``. Labels are matched case-insensitively: anger is spelled
``angry``, and the dataset's instructions list the folder ``neutraL`` where its annotation file says
``neutral``. Nothing is guessed: a word that is not a known spelling is an error.
"""
from __future__ import annotations

from dataclasses import dataclass

# Canonical class order: label index i is EMOTIONS[i].
EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
# Canonical lighting conditions, lower case; LIGHTING_SPELLING gives the released spelling.
LIGHTINGS: tuple[str, ...] = ("normal", "overexposed", "low", "hdr")

# Spellings of SEE's annotation file (labels, folder names and name fields); "neutraL" is read too.
EMOTION_SPELLING = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happiness",
                    "neutral": "neutral", "sadness": "sadness", "surprise": "surprise"}
LIGHTING_SPELLING = {"normal": "normal", "overexposed": "Overexposed", "low": "Low", "hdr": "HDR"}

_EMOTION_WORDS = {**{e: e for e in EMOTIONS}, **{s.lower(): e for e, s in EMOTION_SPELLING.items()}}
# Degrees as SEE's names spell them.
DEGREES = ("undergraduate", "Master", "Doctor")


def normalize_emotion(word: str) -> str:
    """Canonical emotion for a SEE label or folder name (case-insensitive); ``ValueError`` if unknown."""
    key = str(word).strip().lower()
    if key not in _EMOTION_WORDS:
        raise ValueError(f"unknown emotion label {word!r} (known: {', '.join(sorted(_EMOTION_WORDS))})")
    return _EMOTION_WORDS[key]


def normalize_lighting(word: str) -> str:
    """Canonical lighting condition (case-insensitive); ``ValueError`` if unknown."""
    key = str(word).strip().lower()
    if key not in LIGHTINGS:
        raise ValueError(f"unknown lighting condition {word!r} (known: {', '.join(LIGHTING_SPELLING.values())})")
    return key


@dataclass(frozen=True)
class SequenceName:
    """The fields of a SEE sequence name; ``emotion`` and ``lighting`` are canonical."""

    name: str
    number: int
    subject: str
    sex: str
    age: int
    degree: str
    lighting: str
    emotion: str
    length: int
    take: int

    @classmethod
    def parse(cls, name: str) -> "SequenceName":
        """Parse a sequence name; ``ValueError`` says which field is wrong.

        The degree is the only free-text field, so it may itself contain underscores.
        """
        parts = name.split("_")
        if len(parts) < 9:
            raise ValueError(f"sequence name {name!r} does not have the 9 fields "
                             "<seq#>_<ID>_<sex>_<age>_<degree>_<lighting>_<emotion>_<length>_take<k>")
        number, subject, sex, age = parts[:4]
        lighting, emotion, length, take = parts[-4:]
        if not take.lower().startswith("take"):
            raise ValueError(f"sequence name {name!r}: last field {take!r} is not take<k>")
        try:
            ints = [int(number), int(age), int(length), int(take[4:])]
        except ValueError:
            raise ValueError(f"sequence name {name!r}: seq#, age, length and take must be integers") from None
        return cls(name=name, number=ints[0], subject=subject, sex=sex, age=ints[1],
                   degree="_".join(parts[4:-4]), lighting=normalize_lighting(lighting),
                   emotion=normalize_emotion(emotion), length=ints[2], take=ints[3])

    @staticmethod
    def format(number: int, subject: str, sex: str, age: int, degree: str, lighting: str, emotion: str,
               length: int, take: int) -> str:
        """The released-style name for these fields (emotion and lighting in SEE spelling)."""
        return (f"{number}_{subject}_{sex}_{age}_{degree}_{LIGHTING_SPELLING[normalize_lighting(lighting)]}_"
                f"{EMOTION_SPELLING[normalize_emotion(emotion)]}_{length}_take{take:03d}")
