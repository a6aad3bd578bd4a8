"""Cost questions: summary, namespace, label, compare, trend, top, and recommendations.

Windows, scopes and `vs previous` may come in any order; what each command requires differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.grammar.commands import (
    Command,
    Compare,
    CsvExport,
    Dimension,
    LabelQuery,
    NamespaceQuery,
    Recommendations,
    Summary,
    Top,
    Trend,
    WorkloadQuery,
)
from handlers.grammar.tokens import VS, Words, is_int, is_pair
from handlers.grammar.usage import closest, fail, shorten, stray
from handlers.grammar.values import (
    LABEL_KEY,
    cluster,
    label_key,
    namespace,
    number,
    once,
    pair_from,
    workload_name,
)
from services.costs.views import Focus  # one Focus, the services' (grammar may import them)
from services.costs.windows import TimeRange, looks_like_window
from services.recommendations.models import PROFILES


@dataclass
class _Parts:
    window: str | None = None
    namespace: str | None = None
    label: tuple[str, str] | None = None
    cluster: str | None = None
    vs_previous: bool = False
    everything: bool = False
    bare: list[str] = field(default_factory=list)


def _scan(topic: str, words: Words) -> _Parts:
    """Windows, scopes and the `vs previous` marker in any order; unknown words go to `bare`."""
    parts = _Parts()
    while (word := words.peek()) is not None:
        raw = words.take()
        if word == VS:
            parts.vs_previous = True
        elif looks_like_window(word):
            parts.window = once(topic, parts.window, raw, "time windows")
        elif word in ("namespace", "ns"):
            _set_namespace(topic, parts, words.value(topic, "namespace"))
        elif word in ("label", "labels") or is_pair(word):
            text = raw if is_pair(word) else words.value(topic, "label (KEY=VALUE)")
            parts.label = once(topic, parts.label, pair_from(topic, text, words), "labels")
        elif word == "cluster":
            name = cluster(topic, words.value(topic, "cluster"))
            parts.cluster = once(topic, parts.cluster, name, "clusters")
        elif word in ("tz", "timezone"):
            words.zone(topic)
        elif word in ("all", "everything"):
            parts.everything = True
        else:
            parts.bare.append(raw)
    return parts


def parse_focused(topic: str, words: Words) -> Command:
    """summary / namespace / label / compare / trend: they differ only in what they require."""
    parts = _scan(topic, words)
    if topic == "label" and parts.label is None and parts.bare:  # "label team payments"
        rest = Words(parts.bare[1:], words.now, words.tz)
        parts.label = pair_from(topic, parts.bare[0], rest)
        parts.bare = rest.tokens[rest.pos :]
    for word in parts.bare:
        if topic in ("summary", "label") or parts.namespace is not None:
            raise stray(topic, word, ("namespace", "label", "cluster", "vs"))
        _set_namespace(topic, parts, word)
    if parts.everything and topic not in ("compare", "trend", "summary"):
        raise fail(topic, "“all” doesn't fit here.")
    return _focused_command(topic, parts, words.window(parts.window))


def _focused_command(topic: str, parts: _Parts, window: TimeRange) -> Command:
    focus = Focus(namespace=parts.namespace, label=parts.label, cluster=parts.cluster)
    if topic == "trend":
        return Trend(focus=focus, window=window)
    if topic == "compare" or parts.vs_previous:
        return Compare(focus=focus, window=window)
    if parts.cluster is not None:
        raise fail(topic, "A cluster only narrows `compare` and `trend`; try `top by cluster`.")
    if parts.namespace is not None and parts.label is None and topic != "label":
        return NamespaceQuery(namespace=parts.namespace, window=window)
    if parts.label is not None and parts.namespace is None and topic != "namespace":
        return LabelQuery(key=parts.label[0], value=parts.label[1], window=window)
    if topic == "summary" and parts.namespace is None and parts.label is None:
        return Summary(window=window)
    raise fail(topic, _MISSING.get(topic, "Ask about one namespace or one label at a time."))


_MISSING = {"namespace": "Which namespace?", "label": "Which label? Write it as KEY=VALUE."}


def _set_namespace(topic: str, parts: _Parts, name: str) -> None:
    if parts.namespace is not None:
        raise fail(topic, "One namespace at a time, please.")
    parts.namespace = namespace(topic, name)


_DIMENSION_WORDS: tuple[tuple[Dimension, str], ...] = (
    ("namespace", "namespaces ns"),
    ("controller", "controllers deployment deployments workload workloads statefulset"),
    ("pod", "pods"),
    ("cluster", "clusters"),
    ("node", "nodes"),
    ("label", "labels"),
)
_DIMENSIONS: dict[str, Dimension] = {
    alias: dimension
    for dimension, aliases in _DIMENSION_WORDS
    for alias in (dimension, *aliases.split())
}


def parse_top(words: Words) -> Command:
    k: int | None = None
    dimension: Dimension | None = None
    key: str | None = None
    window: str | None = None
    guessed = False
    while (word := words.peek()) is not None:
        raw = words.take()
        after_by = word == "by"
        if after_by:
            raw = words.value("top", "dimension")
            word = raw.lower()
        if is_int(word):
            k = number("top", word, k, 50)
        elif looks_like_window(word):
            window = once("top", window, raw, "time windows")
        elif word in ("tz", "timezone"):
            words.zone("top")
        elif word in _DIMENSIONS or word.startswith(("label:", "labels:")):
            dimension = once("top", dimension, _DIMENSIONS.get(word, "label"), "dimensions")
            if dimension == "label":
                text = raw.partition(":")[2] if ":" in raw else _key_after(words)
                key = label_key("top", text)
        elif after_by and _maybe_label(raw):  # `top 5 by team`: team may be a label key
            dimension = once("top", dimension, "label", "dimensions")
            key, guessed = raw, True
        else:
            raise stray("top", raw, (*_DIMENSIONS, "by"))
    return Top(
        window=words.window(window),
        k=10 if k is None else k,
        dimension=dimension or "namespace",
        label_key=key,
        label_guessed=guessed,
    )


def _maybe_label(word: str) -> bool:
    """A word after `by` that is no dimension, nor a slip of one, but could be a label key; the
    service ranks by it only if the asker's data carries that label."""
    near = closest(word.lower(), _DIMENSIONS)
    return near is None and LABEL_KEY.fullmatch(word) is not None


def _key_after(words: Words) -> str:
    word = words.peek()
    if word is None or is_int(word) or word == "by" or looks_like_window(word):
        raise fail("top", "Which label key? e.g. top by label:team")
    return words.take()


def parse_recommendations(words: Words) -> Command:
    parts = _scan("recommendations", words)
    if parts.window is not None or words.tz_given:
        raise fail(
            "recommendations",
            "Recommendations always use the configured history; leave out the time window.",
        )
    if parts.label is not None or parts.cluster is not None or parts.vs_previous:
        raise fail("recommendations", "Recommendations can be narrowed to a namespace only.")
    words_ = parts.bare[1:] if [w.lower() for w in parts.bare[:1]] == ["for"] else parts.bare
    bare, profile = _profile(words_)
    for word in bare:  # `recs for payments` as well as `recs payments`
        if parts.namespace is not None:
            raise stray("recommendations", word, ("namespace", "all", "profile"))
        _set_namespace("recommendations", parts, word)
    return Recommendations(namespace=parts.namespace, include_all=parts.everything, profile=profile)


def parse_workload(words: Words) -> Command:
    """`workload NS/NAME [WINDOW]`, also `workload NAME namespace NS` (NAME may be kind:name)."""
    parts = _scan("workload", words)
    if parts.label is not None or parts.cluster is not None or parts.vs_previous:
        raise fail("workload", "A workload is named by its namespace and name only.")
    if parts.everything or len(parts.bare) != 1:
        extra = parts.bare[1:2]
        if extra:
            raise fail("workload", f"I didn't expect “{shorten(extra[0])}” there.")
        raise fail("workload", "Which workload? Write it as NAMESPACE/NAME.")
    ns, slash, name = parts.bare[0].partition("/")
    if not slash:
        ns, name = parts.namespace or "", parts.bare[0]
    elif parts.namespace is not None:
        raise fail("workload", "One namespace at a time, please.")
    if not ns:
        raise fail("workload", "In which namespace? Write it as NAMESPACE/NAME.")
    return WorkloadQuery(
        namespace=namespace("workload", ns),
        name=workload_name("workload", name),
        window=words.window(parts.window),
    )


def csv_export(question: Command) -> Command:
    """`… csv`: only a cost table can be exported."""
    if not isinstance(question, (Summary, NamespaceQuery, Top, LabelQuery, Compare, Trend)):
        raise fail("csv", "Only cost tables export as CSV, e.g. `/cost top 20 by controller csv`.")
    return CsvExport(question=question)


def _profile(bare: list[str]) -> tuple[list[str], str | None]:
    """`profile NAME` among the bare words: a Kubecost-compatible sizing profile."""
    if "profile" not in (word.lower() for word in bare):
        return bare, None
    at = [word.lower() for word in bare].index("profile")
    choices = ", ".join(PROFILES)
    if at + 1 >= len(bare):
        raise fail("recommendations", f"Which profile? One of {choices}.")
    name = bare[at + 1].lower()
    if name not in PROFILES:
        raise fail("recommendations", f"Unknown profile; choose one of {choices}.")
    return bare[:at] + bare[at + 2 :], name
