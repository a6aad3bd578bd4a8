"""Every user-facing word about an error lives here: domain errors → plain sentences.

Never a traceback, never a secret, never a hint that a hidden namespace exists.
"""

from __future__ import annotations

from handlers.render.mrkdwn import escape
from services.errors import (
    AuthorizationUnavailable,
    ChatUnavailable,
    CostbotError,
    NoAccess,
    NotAllowed,
    NotFound,
    OpenCostBadResponse,
    OpenCostUnavailable,
    StaleAction,
    StoreUnavailable,
    Unmapped,
    UserInputError,
)

# Slack error codes meaning costbot's own token is refused: the operator's problem, not the user's.
SLACK_AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)

UNMAPPED_HELP = (
    "I don't know which Kubernetes identity you are, so I can only show `/cost help` and "
    "`/cost whoami`. Your Slack ID is `{user}`: ask your platform team to add it to costbot's "
    "identity map (or to enable email mapping for your domain)."
)


NOT_A_MEMBER = (
    ":warning: I can't post in this channel because I'm not a member of it. "
    "Invite me with `/invite @costbot` and press *Share in channel* again."
)


def words_for(error: BaseException, ref: str = "") -> str:
    """One friendly mrkdwn paragraph for any error."""
    if isinstance(error, UserInputError):
        hint = f"\n{error.hint}" if error.hint else ""
        return f":thinking_face: {escape(str(error))}{hint}"
    if isinstance(error, Unmapped):
        return ":bust_in_silhouette: " + UNMAPPED_HELP.format(user=escape(error.slack_user_id))
    if isinstance(error, NoAccess):
        return no_access_words(error)
    if isinstance(error, NotAllowed):
        return f":no_entry: {escape(str(error)) or 'You are not allowed to do that.'}"
    if isinstance(error, NotFound):
        return _not_found_words(error)
    if isinstance(error, StaleAction):
        return f":hourglass: {escape(str(error))}"
    if isinstance(error, AuthorizationUnavailable):
        return (
            ":lock: I can't reach the Kubernetes API to check your access right now, so I'm "
            "not showing anything. Try again in a minute; if it persists, tell your platform team."
        )
    if isinstance(error, OpenCostUnavailable):
        where = f" for cluster `{escape(error.cluster)}`" if error.cluster else ""
        return (
            f":warning: OpenCost is not answering{where} and I have no recent copy of this "
            "answer. Try again in a few minutes."
        )
    if isinstance(error, OpenCostBadResponse):
        # Never the error's text: it names OpenCost's internal address and what it refused,
        # which operators read in the logs (`opencost.bad_response`).
        where = f" (cluster `{escape(error.cluster)}`)" if error.cluster else ""
        return (
            f":warning: OpenCost sent an answer I can't read{where}, so I have nothing to show "
            "for this question. Nothing was changed; the details are in costbot's logs for "
            "your platform team."
        )
    if isinstance(error, StoreUnavailable):
        return ":warning: My storage (Redis) is not answering; nothing was changed. Try again."
    if isinstance(error, ChatUnavailable):
        return _chat_words(error)
    if isinstance(error, CostbotError):
        return f":warning: {escape(str(error))}"
    suffix = f" (reference `{ref}`)" if ref else ""
    return f":warning: Something went wrong on my side{suffix}. It has been logged."


def _not_found_words(error: NotFound) -> str:
    """Nothing visible by that name, with a did-you-mean the service drew from visible names."""
    text = escape(str(error))
    if error.suggestion:
        stop = "" if text.endswith((".", "?", "!")) else "."
        text += f"{stop} Did you mean `{escape(error.suggestion)}`?"
    return f":mag: {text}"


def no_access_words(error: NoAccess) -> str:
    """A mapped user who may see no namespace: who Kubernetes thinks they are and the one
    permission to ask for; no figures at all."""
    groups = ", ".join(escape(g) for g in error.groups) or "none"
    what = f"{error.verb} {error.resource}" + (f".{error.group}" if error.group else "")
    return (
        ":see_no_evil: You can't see any namespace yet — your Kubernetes identity is "
        f"`{escape(error.k8s_user)}` (groups: {groups}); ask your platform team for a "
        f"RoleBinding that allows `{escape(what)}` in your namespace."
    )


def _chat_words(error: ChatUnavailable) -> str:
    if error.code in SLACK_AUTH_ERRORS:
        return (
            f":warning: Slack refused costbot's token (`{escape(error.code)}`), so I couldn't do "
            "that. Please tell your platform team: the bot token needs to be renewed or the app "
            "reinstalled."
        )
    return f":warning: Slack refused the request ({escape(error.code or str(error))})."
