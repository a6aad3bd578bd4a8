"""`/cost whoami`, `/cost audit [N]` and `/cost help [TOPIC]`: questions about costbot itself."""

from __future__ import annotations

from handlers.grammar.commands import Audit, Command, Help, Whoami
from handlers.grammar.tokens import Words, is_int
from handlers.grammar.usage import ALIASES, closest
from handlers.grammar.values import number

_HELP_TOPICS = {**ALIASES, "window": "window", "windows": "window", "time": "window"}


def parse_whoami(words: Words) -> Command:
    if [token.lower() for token in words.tokens[words.pos :]] == ["am", "i"]:
        words.pos = len(words.tokens)  # "who am i"
    words.expect_end("whoami")
    return Whoami()


def parse_audit(words: Words) -> Command:
    limit: int | None = None
    if (word := words.peek()) is not None and is_int(word):
        limit = number("audit", words.take(), None, 100)
    words.expect_end("audit")
    return Audit(limit=20 if limit is None else limit)


def parse_help(words: Words) -> Command:
    word = words.peek()
    if word is None or word in ("me", "please"):
        return Help()
    topic = _HELP_TOPICS.get(word) or _HELP_TOPICS.get(closest(word, _HELP_TOPICS) or "")
    return Help(topic=None if topic == "help" else topic)
