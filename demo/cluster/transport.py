"""An httpx transport that answers like an OpenCost server, from a `DemoCluster` (no sockets)."""

from __future__ import annotations

import asyncio

import httpx

from demo.cluster.cluster import DemoCluster


class DemoOpenCostTransport(httpx.AsyncBaseTransport):
    """Use with any base URL (e.g. `DEMO_BASE_URL`), with or without a Kubecost-style `/model`."""

    def __init__(self, cluster: DemoCluster | None = None) -> None:
        self.cluster = cluster or DemoCluster()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            return httpx.Response(405, text="Method Not Allowed\n", request=request)
        params: dict[str, str] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, value)  # Go's Query().Get: the first value wins
        # Building a month of container rows takes a moment of CPU; keep the event loop free.
        status, content_type, body = await asyncio.to_thread(
            self.cluster.respond, request.url.path, params
        )
        return httpx.Response(
            status, headers={"content-type": content_type}, content=body, request=request
        )
