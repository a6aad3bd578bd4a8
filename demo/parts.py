"""The built-in demo as one injectable value: the synthetic cluster behind OpenCost's API, the
demo identity map, RBAC evaluated in process, the demo HPAs and the demo's admin group.

`bot/cli.py` builds this when no OpenCost is configured and passes it to `build_bot`; the
composition root only sees a `DemoParts`, never this package.
"""

from __future__ import annotations

from bot.runtime import DemoParts
from demo.cluster import DEMO_BASE_URL, DEMO_HPAS, DemoCluster, DemoOpenCostTransport
from demo.identity import demo_identity_map
from demo.rbac import DEMO_RBAC, StaticRbac, StaticRbacAuthorizer
from services.ports import Clock
from services.recommendations.models import HpaTarget

DEMO_ADMIN_GROUPS = ("platform-admins",)


def demo_parts(clock: Clock | None = None) -> DemoParts:
    """Fresh demo parts (the RBAC authorizer counts its calls, so never share one)."""
    return DemoParts(
        opencost=DemoOpenCostTransport(DemoCluster(clock)),
        opencost_url=DEMO_BASE_URL,
        authorizer=StaticRbacAuthorizer(StaticRbac(DEMO_RBAC)),
        identity_map=demo_identity_map(),
        # The catalog gives target utilization as a fraction; the engine works in percent.
        hpas=tuple(HpaTarget(ns, kind, name, target * 100) for ns, kind, name, target in DEMO_HPAS),
        admin_groups=DEMO_ADMIN_GROUPS,
    )
