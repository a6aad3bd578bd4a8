"""Cost data sources: the OpenCost HTTP client, several clusters as one, and the demo cluster."""

from __future__ import annotations

from services.opencost.client import OpenCostClient
from services.opencost.demo import (
    DEMO_BASE_URL,
    DEMO_HPAS,
    DemoCluster,
    DemoOpenCostTransport,
)
from services.opencost.multi import MultiClusterSource

__all__ = [
    "DEMO_BASE_URL",
    "DEMO_HPAS",
    "DemoCluster",
    "DemoOpenCostTransport",
    "MultiClusterSource",
    "OpenCostClient",
]
