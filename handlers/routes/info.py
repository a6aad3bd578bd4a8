"""Routes that describe the bot and the asker: help, whoami, audit."""

from __future__ import annotations

import re

from handlers import grammar
from handlers.asker import Asker
from handlers.deps import Deps
from handlers.errors import UNMAPPED_HELP
from handlers.render.blocks import context, header, section
from handlers.render.mrkdwn import escape
from handlers.render.reply import Reply
from services.access.models import Scope
from services.costs.scoping import window_scope
from services.costs.windows import DEFAULT_WINDOW, parse_window
from services.errors import NotAllowed

EXAMPLES = (
    ("/cost summary 7d", "total, top namespaces and run-rate for everything you may see"),
    ("/cost ns payments 30d", "one namespace by workload and by resource"),
    ("/cost top 5 by controller", "the biggest spenders by any dimension"),
    ("/cost label team=search", "everything carrying a label"),
    ("/cost compare namespace payments lastweek", "this period vs the one before, top movers"),
    ("/cost trend 30d", "daily spend with a chart"),
    ("/cost workload payments/payments-api 30d", "one workload: containers, days, savings"),
    ("/cost recs", "savings you can act on, with buttons"),
    ("/cost digest subscribe weekly mon at 09:00", "a weekly digest in this channel"),
    ("/cost budget set namespace payments 1500/month", "alerts at 80 % and 100 %"),
    ("/cost whoami", "your Kubernetes identity and what you may see"),
)


# What `/cost help TOPIC` adds to the usage lines, in one or two sentences per topic.
TOPIC_NOTES = {
    "summary": "The total of everything you may see, its monthly run-rate, efficiency and the "
    "top namespaces. `/cost 30d` is the same as `/cost summary 30d`.",
    "namespace": "One namespace by workload and by resource. Names you may not see read "
    "exactly like names that do not exist; a close name you may see is suggested.",
    "top": "The biggest spenders by a dimension. `by team` ranks by the label `team` when "
    "your data carries it. Nodes are cluster-wide figures (cluster-wide viewers only).",
    "label": "Everything carrying one label value, by namespace and by workload.",
    "compare": "This period against the one before it (a running period against the same "
    "elapsed stretch), with what moved most.",
    "trend": "Spend per UTC day, as a table and a chart.",
    "recommendations": "Right-sizing and idle workloads with their monthly savings; buttons "
    "acknowledge, snooze or dismiss them. `recs for payments` works too.",
    "workload": "One controller: what each container costs, spend per day, and its open "
    "savings. NAME may carry its kind, as answers show it: `deployment:payments-api`.",
    "digest": "A scheduled digest posted in this channel, re-checked against the subscriber's "
    "access at every send.",
    "budget": "A monthly budget with alerts in this channel at 80 % and 100 % and when the "
    "forecast passes it.",
    "whoami": "Your Slack user, the Kubernetes user and groups it maps to, and the "
    "namespaces Kubernetes lets you see.",
    "audit": "The audit log (members of the admin groups only).",
    "window": "Every cost command takes one window. Days are your Slack time zone's "
    "(UTC when Slack has none); `tz ZONE` (e.g. `tz Europe/Berlin`, `tz +05:30`) changes "
    "it. A window still running (today, week, month) runs to now, and run-rates use the "
    "elapsed part.",
}


async def help_(cmd: grammar.Help, deps: Deps, asker: Asker) -> Reply:
    if cmd.topic is not None and cmd.topic in TOPIC_NOTES:
        return _topic_help(cmd.topic, asker)
    lines = "\n".join(f"`{example}` — {what}" for example, what in EXAMPLES)
    blocks = [
        header("costbot: Kubernetes cost in Slack"),
        section("Ask about cost; answers only cover namespaces *you* may see in Kubernetes.\n"),
        section(lines),
        section("*Windows:* " + ", ".join(f"`{w}`" for w in grammar_windows())),
        context("Replies are only visible to you until you press *Share in channel*."),
    ]
    if not asker.identity.mapped:
        blocks.insert(
            1, section(":bust_in_silhouette: " + UNMAPPED_HELP.format(user=escape(asker.user_id)))
        )
    return Reply(blocks).finished()


def _topic_help(topic: str, asker: Asker) -> Reply:
    """`/cost help TOPIC`: that command's usage, what it answers, and its examples."""
    title = "time windows" if topic == "window" else f"/cost {topic}"
    examples = [
        f"`{example}` — {what}"
        for example, what in EXAMPLES
        if grammar.ALIASES.get(example.split()[1]) == topic
    ]
    blocks = [
        header(f"costbot help · {title}"),
        section(f"```{escape(grammar.usage_for(topic))}```"),
        section(TOPIC_NOTES[topic]),
    ]
    if examples:
        blocks.append(section("*Example*\n" + "\n".join(examples)))
    if not asker.identity.mapped:
        text = UNMAPPED_HELP.format(user=escape(asker.user_id))
        blocks.insert(1, section(":bust_in_silhouette: " + text))
    blocks.append(context("`/cost help` lists every command."))
    return Reply(blocks).finished()


def grammar_windows() -> list[str]:
    from services.costs.windows import WINDOW_FORMS

    return list(WINDOW_FORMS)


MAPPED_BY = {
    "explicit": "an explicit entry in the identity map",
    "email": "your Slack profile email (a trusted domain)",
}


async def whoami(cmd: grammar.Whoami, deps: Deps, asker: Asker) -> Reply:
    identity = asker.identity
    if not identity.mapped:
        return Reply([header("Who you are"), section(_unmapped_words(asker))]).finished()
    window = parse_window(DEFAULT_WINDOW, deps.clock.now(), tz=asker.tz)
    scope, present = await window_scope(deps.costs, deps.access, identity, window)
    groups = ", ".join(f"`{escape(g)}`" for g in identity.groups) or "none"
    how = MAPPED_BY.get(identity.source, escape(identity.source))
    lines = [
        f"*Slack:* <@{escape(asker.user_id)}> (`{escape(asker.user_id)}`)",
        f"*Kubernetes user:* `{escape(identity.k8s_user or '')}` (mapped by {how})",
        f"*Groups:* {groups}",
        f"*Cluster-wide figures:* {_wide_words(deps, scope)}",
    ]
    blocks = [
        header("Who you are"),
        section("\n".join(lines)),
        section("*Namespaces you may see*\n" + _visible_lines(deps, present, scope)),
    ]
    if scope.empty:
        check = deps.access.see_check()
        what = f"{check.verb} {check.resource}" + (f".{check.group}" if check.group else "")
        blocks.append(
            section(
                f":see_no_evil: Kubernetes lets `{escape(identity.k8s_user or '')}` "
                f"`{escape(what)}` in none of these namespaces, so every answer will be empty. "
                "Ask your platform team for a RoleBinding in the namespaces you work in."
            )
        )
    blocks.append(context(_authority_words(deps)))
    return Reply(blocks).finished()


def _wide_words(deps: Deps, scope: Scope) -> str:
    """yes/no with one cluster; with several, the clusters seen whole."""
    if not deps.access.multi:
        return "yes" if scope.all_cluster_wide else "no"
    wide = [name for name in deps.access.clusters if scope.sees_cluster(name)]
    if not wide:
        return "no"
    if len(wide) == len(deps.access.clusters):
        return "yes (every cluster)"
    return "only on " + ", ".join(f"`{escape(name)}`" for name in wide)


def _authority_words(deps: Deps) -> str:
    words = "Access is decided by Kubernetes RBAC (SubjectAccessReview) each time you ask"
    if deps.access.multi:
        words += ", by each cluster's own API"
    shared = deps.access.shared_clusters
    if shared:
        words += "; access decided by the home cluster for: " + ", ".join(map(escape, shared))
    return words + "."


def _visible_lines(deps: Deps, present: dict[str, set[str]], scope: Scope) -> str:
    """One line per cluster: what this person may see there."""
    clusters = deps.access.clusters or tuple(sorted(present)) or ("",)
    per_cluster = []
    for cluster in clusters:
        names = present.get(cluster, set())
        seen = sorted(n for n in names if n and scope.sees(n, cluster))
        shown = ", ".join(f"`{escape(n)}`" for n in seen[:40]) or "none"
        more = f" …and {len(seen) - 40} more" if len(seen) > 40 else ""
        whole = " (cluster-wide)" if deps.access.multi and scope.sees_cluster(cluster) else ""
        per_cluster.append(f"*{escape(cluster or 'cluster')}{whole}:* {shown}{more}")
    return "\n".join(per_cluster) or "none"


def _unmapped_words(asker: Asker) -> str:
    """Why this Slack user has no Kubernetes identity, as far as we can tell, and what to do."""
    identity = asker.identity
    text = ":bust_in_silhouette: " + UNMAPPED_HELP.format(user=escape(asker.user_id))
    if identity.source == "unavailable":
        return (
            ":warning: I couldn't look up your Slack profile just now, so I can't tell who you "
            f"are in Kubernetes. Your Slack ID is `{escape(asker.user_id)}`; try again shortly."
        )
    if identity.email:
        domain = identity.email.rpartition("@")[2]
        text += (
            f"\nYour Slack profile email is in `{escape(domain)}`, which is not a domain "
            "costbot maps automatically."
        )
    return text


async def audit(cmd: grammar.Audit, deps: Deps, asker: Asker) -> Reply:
    if not deps.admin_groups.intersection(asker.identity.groups):
        raise NotAllowed("Only members of the configured admin groups can read the audit log.")
    entries = await deps.audit.recent(max(1, min(cmd.limit, 50)))
    if not entries:
        return Reply([header("Audit log"), section("No audit entries yet.")]).finished()
    lines = [
        f"`{e.at:%Y-%m-%d %H:%M}` *{_field(e.event)}* by `{_field(e.actor)}` "
        + _field(" ".join(f"{key}={value}" for key, value in sorted(e.fields.items())), 300)
        for e in entries
    ]
    return Reply([header(f"Audit log · last {len(entries)}"), section("\n".join(lines))]).finished()


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_MRKDWN = str.maketrans({"`": "ˋ", "*": "∗", "~": "∼"})


def _field(text: str, limit: int = 120) -> str:
    """One audit value on one line: a newline typed into a dismissal reason must not start
    what looks like another audit entry, and mrkdwn in it must not format or link."""
    flat = _LINE_BREAKS.sub(" ⏎ ", text)[:limit]
    return escape(flat.translate(_MRKDWN))
