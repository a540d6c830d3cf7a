"""Class protocols: how each dataset's emotion annotations map to class indices.

A protocol is chosen with the adapter's ``classes`` argument. Emotions are compared in lower
case. An emotion a protocol does not list (``others`` under ``megc3``) is left out on purpose:
the row is counted in :attr:`mertk.api.DatasetLoad.excluded`, not reported as a problem.

=========  ==========  ===========================================================
dataset    classes     mapping
=========  ==========  ===========================================================
casme2     megc3       happiness -> positive; surprise; disgust, repression -> negative
casme2     5class      disgust, happiness, repression, surprise, others
samm       megc3       anger, contempt, disgust, fear, sadness -> negative; happiness -> positive; surprise
samm       5class      anger, contempt, happiness, surprise, other
smic       megc3       the folder names negative, positive, surprise
casme3     megc3       disgust, fear, anger, sad -> negative; happy -> positive; surprise
casme3     4class      megc3 + others
casme3     7class      anger, disgust, fear, happy, others, sad, surprise
casme      megc3       amusement, happiness -> positive; surprise; disgust, sadness, fear, contempt,
                       repression -> negative (tense is left out)
casme      8class      amusement, contempt, disgust, fear, repression, sadness, surprise, tense
mmew       megc3       happiness -> positive; surprise; anger, disgust, fear, sadness -> negative
mmew       7class      anger, disgust, fear, happiness, others, sadness, surprise
=========  ==========  ===========================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["ClassProtocol", "MEGC3", "CLASS_PROTOCOLS", "class_protocol"]

#: The MEGC 2019 composite classes, label 0, 1, 2.
MEGC3 = ("negative", "positive", "surprise")


@dataclass(frozen=True)
class ClassProtocol:
    """Class names (index = label) and the emotion -> class name mapping."""

    names: tuple[str, ...]
    mapping: Mapping[str, str]

    def label(self, emotion: str) -> int | None:
        """The label of ``emotion`` (any case), or ``None`` when the protocol leaves it out."""
        name = self.mapping.get(emotion.strip().lower())
        return None if name is None else self.names.index(name)


def _identity(names: Sequence[str]) -> ClassProtocol:
    return ClassProtocol(tuple(names), {n: n for n in names})


def _megc3(negative: Sequence[str], positive: Sequence[str], surprise: Sequence[str] = ("surprise",)) -> ClassProtocol:
    mapping = {e: "negative" for e in negative} | {e: "positive" for e in positive} | {e: "surprise" for e in surprise}
    return ClassProtocol(MEGC3, mapping)


_CASME3_NEGATIVE = ("disgust", "fear", "anger", "sad")

CLASS_PROTOCOLS: dict[str, dict[str, ClassProtocol]] = {
    "casme2": {
        "megc3": _megc3(("disgust", "repression"), ("happiness",)),
        "5class": _identity(("disgust", "happiness", "repression", "surprise", "others")),
    },
    "samm": {
        "megc3": _megc3(("anger", "contempt", "disgust", "fear", "sadness"), ("happiness",)),
        "5class": _identity(("anger", "contempt", "happiness", "surprise", "other")),
    },
    "smic": {"megc3": _identity(MEGC3)},
    "casme3": {
        "megc3": _megc3(_CASME3_NEGATIVE, ("happy",)),
        "4class": ClassProtocol(MEGC3 + ("others",), {**_megc3(_CASME3_NEGATIVE, ("happy",)).mapping,
                                                      "others": "others"}),
        "7class": _identity(("anger", "disgust", "fear", "happy", "others", "sad", "surprise")),
    },
    "casme": {
        "megc3": _megc3(("disgust", "sadness", "fear", "contempt", "repression"), ("amusement", "happiness")),
        "8class": _identity(("amusement", "contempt", "disgust", "fear", "repression", "sadness", "surprise",
                             "tense")),
    },
    "mmew": {
        "megc3": _megc3(("anger", "disgust", "fear", "sadness"), ("happiness",)),
        "7class": _identity(("anger", "disgust", "fear", "happiness", "others", "sadness", "surprise")),
    },
}


def class_protocol(dataset: str, classes: str) -> ClassProtocol:
    """The protocol ``classes`` of ``dataset`` (both validated by the adapters' type hints)."""
    return CLASS_PROTOCOLS[dataset][classes]
