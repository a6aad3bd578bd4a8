"""Validated values inside a command: namespace, cluster and label names, ids, numbers.

Each checker returns the value in its canonical spelling or raises a UserInputError for `topic`.
"""

from __future__ import annotations

import re
from typing import TypeVar

from handlers.grammar.tokens import SUB_WORDS, VS, Words
from handlers.grammar.usage import fail, shorten, stray
from services.costs.windows import looks_like_window

NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?|__[a-z]{1,40}__")
LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_CLUSTER = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.:/@]{0,199}")
_IDENT = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.:]{0,63}")


def namespace(topic: str, name: str) -> str:
    """A Kubernetes namespace name (or an OpenCost `__bucket__`), lower-cased."""
    if NAME.fullmatch(name.lower()) is None:
        raise fail(
            topic,
            f"“{shorten(name)}” is not a namespace name "
            "(lowercase letters, digits and '-', at most 63).",
        )
    return name.lower()


def cluster(topic: str, name: str) -> str:
    if _CLUSTER.fullmatch(name) is None:
        raise fail(topic, f"“{shorten(name)}” is not a cluster name.")
    return name


def workload_name(topic: str, text: str) -> str:
    """A controller's name, optionally `kind:name` (as answers show it), lower-cased."""
    kind, colon, name = text.lower().rpartition(":")
    if NAME.fullmatch(name) is None or (colon and re.fullmatch(r"[a-z]{1,40}", kind) is None):
        raise fail(topic, f"“{shorten(text)}” is not a workload name; e.g. payments/payments-api.")
    return text.lower()


def label_key(topic: str, key: str) -> str:
    if LABEL_KEY.fullmatch(key) is None:
        raise fail(
            topic, f"“{shorten(key)}” is not a label key; e.g. team or app.kubernetes.io/name."
        )
    return key


def pair_from(topic: str, text: str, words: Words) -> tuple[str, str]:
    """KEY=VALUE (or KEY:VALUE) in one word, or KEY and VALUE as two words."""
    for prefix in ("label:", "labels:"):
        text = text[len(prefix) :] if text.lower().startswith(prefix) else text
    if "=" not in text and ":" not in text:
        word = words.peek()
        if word is None or looks_like_window(word) or word in SUB_WORDS or word == VS:
            raise fail(topic, f"Write the label as KEY=VALUE, e.g. {text}=payments.")
        return _pair(topic, text, words.take())
    key, _, value = text.partition("=") if "=" in text else text.partition(":")
    return _pair(topic, key, value)


def _pair(topic: str, key: str, value: str) -> tuple[str, str]:
    if not value:
        raise fail(topic, f"Which value of {shorten(key)}? e.g. {shorten(key)}=payments")
    if _LABEL_VALUE.fullmatch(value) is None:
        raise fail(topic, f"“{shorten(value)}” is not a label value.")
    return label_key(topic, key), value


def ident(topic: str, text: str) -> str:
    """A subscription or budget id as shown by `list` (a leading # is fine)."""
    text = text.lstrip("#")
    if _IDENT.fullmatch(text) is None:
        raise fail(topic, f"“{shorten(text)}” is not an id; copy it from the list.")
    return text


def number(topic: str, word: str, previous: int | None, high: int) -> int:
    """A count from 1 to `high`; `previous` is the one already given, if any (two is an error)."""
    if previous is not None:
        raise fail(topic, "Two numbers; which one did you mean?")
    value = int(word) if len(word) <= 6 else high + 1
    if not 1 <= value <= high:
        raise fail(topic, f"Pick a number from 1 to {high}.")
    return value


_T = TypeVar("_T")


def once(topic: str, current: _T | None, new: _T, what: str) -> _T:
    """`new`, unless a value was given already (then the user said two things; an error)."""
    if current is not None:
        raise fail(topic, f"Two {what}; pick one.")
    return new


def action(topic: str, words: Words, actions: dict[str, str]) -> str | None:
    """The canonical sub-command (e.g. digest `list`) from its aliases; None if there is none."""
    word = words.peek()
    if word is None:
        return None
    if word not in actions:
        raise stray(topic, words.take(), actions)
    words.take()
    return actions[word]
