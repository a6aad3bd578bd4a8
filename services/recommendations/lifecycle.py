"""The recommendation state machine as pure functions: human actions, snooze expiry, re-opening.

open → acknowledged | snoozed(until) | dismissed(reason); any → open (by hand, when a snooze
ends, or when the recommendation changed materially). No I/O and no clock: `now` is passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.errors import UserInputError
from services.recommendations.maths import material_change
from services.recommendations.models import (
    Action,
    Recommendation,
    RecSettings,
    RecSnapshot,
    RecState,
    StateEvent,
    Status,
)

SYSTEM = "costbot"  # the `by` of transitions nobody clicked
HISTORY_LIMIT = 100
# Two clicks on "Snooze 7d" a second apart compute slightly different ends; that is one snooze.
SAME_SNOOZE = timedelta(minutes=1)
TARGET: dict[Action, Status] = {
    "acknowledge": "acknowledged",
    "snooze": "snoozed",
    "dismiss": "dismissed",
    "reopen": "open",
}


def apply_action(
    state: RecState,
    action: Action,
    *,
    by: str,
    version: str,
    now: datetime,
    until: datetime | None = None,
    reason: str = "",
) -> tuple[RecState, bool]:
    """The state after a human action, and whether the action changed anything.

    An expired snooze is settled first (that alone may change the state, with changed=False).
    Repeating an action on the same version is a no-op, so double clicks do nothing twice.
    """
    if action not in TARGET:
        raise ValueError(f"unknown action {action!r}")
    if action == "snooze" and (until is None or until <= now):
        raise UserInputError("a snooze needs an end in the future", hint="e.g. snooze 7d")
    state = expire_snooze(state, now)
    if _repeats(state, action, version, until, reason):
        return state, False
    detail = {
        "acknowledge": f"version {version}",
        "snooze": f"until {until.isoformat() if until else ''}, version {version}",
        "dismiss": reason or "no reason given",
        "reopen": f"version {version}",
    }[action]
    changed = RecState(
        id=state.id,
        status=TARGET[action],
        until=until if action == "snooze" else None,
        reason=reason if action == "dismiss" else "",
        by=by,
        at=now,
        version_acted=version,
        history=_append(state.history, StateEvent(now, by, action, detail)),
    )
    return changed, True


def _repeats(
    state: RecState, action: Action, version: str, until: datetime | None, reason: str
) -> bool:
    if state.status != TARGET[action]:
        return False
    if action == "reopen":
        return True
    if state.version_acted != version:
        return False
    if action == "snooze" and until is not None and state.until is not None:
        return abs(until - state.until) <= SAME_SNOOZE
    if action == "dismiss":
        return not reason or reason == state.reason
    return True


def expire_snooze(state: RecState, now: datetime) -> RecState:
    """A snooze whose end has passed is open again, with a history event saying so."""
    if state.status != "snoozed" or state.until is None or state.until > now:
        return state
    # Dated at the snooze's end, not at `now`: reading twice gives the same event.
    return _system_reopen(state, state.until, "snooze_expired", f"until {state.until.isoformat()}")


def settle(
    state: RecState,
    rec: Recommendation,
    acted: RecSnapshot | None,
    now: datetime,
    settings: RecSettings,
) -> RecState:
    """What a viewer should see now: snoozes expire; decisions re-open on material change.

    `acted` is the snapshot of the version the human acted on. Without it the move cannot be
    measured, so the human's decision stands.
    """
    state = expire_snooze(state, now)
    if state.status == "open" or rec.version == state.version_acted or acted is None:
        return state
    if acted.version != state.version_acted:
        return state
    why = material_change(acted, rec, settings)
    return _system_reopen(state, now, "reopened", why) if why else state


def _system_reopen(state: RecState, now: datetime, action: str, detail: str) -> RecState:
    # version_acted is kept: it still names what the human decided about (realized savings
    # are measured against it).
    return RecState(
        id=state.id,
        status="open",
        by=SYSTEM,
        at=now,
        version_acted=state.version_acted,
        history=_append(state.history, StateEvent(now, SYSTEM, action, detail)),
    )


def _append(history: tuple[StateEvent, ...], event: StateEvent) -> tuple[StateEvent, ...]:
    return (*history, event)[-HISTORY_LIMIT:]
