"""What an identity may see for one window: the one way every front door (Slack, the API, the
web view, recommendation actions) learns a scope before it reads cost data.

1. Someone who may see nothing at all (`AccessPolicy.sees_nothing`: unmapped, or no check passes
   on any namespace Kubernetes lists) is answered at once: no OpenCost request, no cache write.
2. Otherwise the namespaces present in the window's data (asked as the answer will ask) are the
   candidates, and the policy keeps those the identity may see, cluster by cluster.
"""

from __future__ import annotations

from typing import NamedTuple

from services.access.models import Identity, Scope
from services.access.policy import AccessPolicy
from services.costs.service import CostService, refuse, require_access
from services.costs.windows import TimeRange


class WindowScope(NamedTuple):
    scope: Scope
    present: dict[str, set[str]]  # cluster → namespaces in the window's data ({}: not read)


async def window_scope(
    costs: CostService,
    access: AccessPolicy,
    identity: Identity,
    window: TimeRange,
    *,
    step: str = "",
    with_previous: bool = False,
    require: bool = False,
) -> WindowScope:
    """The scope for `window`. `require`: an empty scope although there is something to see is
    NoAccess (a cost answer says so instead of showing $0.00); raised before any data is read
    when the identity may see nothing at all."""
    if await access.sees_nothing(identity):
        if require and identity.mapped:
            refuse(identity, access.see_check())
        return WindowScope(await access.scope(identity, {}), {})
    present = await costs.visible_namespaces(window, step=step, with_previous=with_previous)
    scope = await access.scope(identity, present)
    if require:
        candidates = sorted({ns for names in present.values() for ns in names if ns})
        require_access(identity, scope, candidates, access.see_check())
    return WindowScope(scope, present)
