"""The HTTP API over real HTTP: the real bot under uvicorn, the Kubernetes stand-in reviewing
tokens it minted (`kubectl create token … --audience costbot`) and answering SARs from the demo
RBAC, and the OpenCost stand-in serving the demo cluster. Figures are checked to the cent
against the independent ledger in tests/rbac_world.py, and every 200 answer is validated
against the API's own OpenAPI schema.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from bot.logging import configure_logging
from demo.cluster import DemoCluster
from tests.bot_harness import World
from tests.rbac_world import (
    ABSENT,
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    SEES,
    Ledger,
    hidden_names,
    near,
    shared_world,
    wait_for_audit,
)

USERS = {
    ADMIN: ("admin@demo.example", ["platform-admins"]),
    ALICE: ("alice@demo.example", ["payments-devs"]),
    BOB: ("bob@demo.example", ["search-team"]),
    CAROL: ("carol@demo.example", ["sre"]),
}
RATE_LIMIT = 60
ORIGIN = "https://grafana.example.com"


class Api:
    def __init__(self, world: World, ledger: Ledger) -> None:
        self.world, self.ledger = world, ledger
        self.http = httpx.Client(base_url=world.bot.url, timeout=30)
        self.spec: dict[str, Any] = self.http.get("/api/openapi.json").json()
        self.tokens = {
            who: world.kube.mint_token(user, groups, extra={"scopes": ["cost:read"]})
            for who, (user, groups) in USERS.items()
        }

    def get(self, path: str, who: str = ADMIN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        response = self.http.get(path, headers=headers, **kwargs)
        self.validate(path, "get", response)
        return response

    def post(self, path: str, body: dict[str, Any], who: str = ADMIN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        response = self.http.post(path, json=body, headers=headers)
        self.validate(path, "post", response)
        return response

    def validate(self, path: str, method: str, response: httpx.Response) -> None:
        """A 200 JSON body against the operation's schema; a problem against RFC 9457."""
        kind = response.headers.get("content-type", "")
        if response.status_code != 200:
            assert kind.startswith("application/problem+json"), (response.status_code, kind)
            body = response.json()
            assert {"type", "title", "status", "detail"} <= set(body)
            assert body["status"] == response.status_code
            operation = self._operation(path.split("?", maxsplit=1)[0].removeprefix("/api"), method)
            content = operation["responses"][str(response.status_code)]["content"]
            problem = content["application/problem+json"]["schema"]
            document = {**problem, "components": self.spec["components"]}
            jsonschema.Draft202012Validator(document).validate(body)
            return
        if not kind.startswith("application/json"):
            return
        operation = self._operation(path.split("?", maxsplit=1)[0].removeprefix("/api"), method)
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        document = {**schema, "components": self.spec["components"]}
        jsonschema.Draft202012Validator(document).validate(response.json())

    def _operation(self, path: str, method: str) -> dict[str, Any]:
        for template, operations in self.spec["paths"].items():
            parts, wanted = template.split("/"), path.split("/")
            if len(parts) == len(wanted) and all(
                a == b or a.startswith("{") for a, b in zip(parts, wanted, strict=True)
            ):
                return dict(operations[method])
        raise AssertionError(f"{path} is not in the OpenAPI schema")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with shared_world(
        tmp_path_factory.mktemp("api"),
        api_rate_limit=RATE_LIMIT,
        api_cors_origins=(ORIGIN,),
    ) as (world, cluster):
        client = Api(world, _ledger(world, cluster))
        yield client
        client.http.close()


def _ledger(world: World, cluster: DemoCluster) -> Ledger:
    today = world.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Ledger(cluster, today - timedelta(days=7), 7)


def dec(value: float) -> Decimal:
    return Decimal(str(value))


# --- scoping, to the cent -----------------------------------------------------------------------
@pytest.mark.parametrize("who", [ADMIN, ALICE, BOB, CAROL])
def test_summary_is_scoped_to_the_cent(api: Api, who: str) -> None:
    response = api.get("/api/v1/costs/summary", who, params={"window": api.ledger.window})
    assert response.status_code == 200, response.text
    body = response.json()
    assert near(dec(body["total"]), Ledger.visible(api.ledger.now, who))
    names = {row["name"] for row in body["namespaces"]}
    sees = SEES[who] or frozenset()
    assert names <= set(sees) | {"__unmounted__", "__unallocated__"}
    for name in sees & set(api.ledger.now):
        shown = sum((dec(r["cost"]) for r in body["namespaces"] if r["name"] == name), Decimal(0))
        assert near(shown, api.ledger.now[name]), name
    assert body["provenance"]["coverage"]["partial_scope"] is (who != ADMIN)
    assert (body["idle_cost"] is None) is (who != ADMIN)
    dumped = json.dumps({k: v for k, v in body.items() if k != "provenance"})
    assert not [n for n in hidden_names(who) if f'"{n}"' in dumped]


@pytest.mark.parametrize("who", [ALICE, BOB, CAROL])
def test_top_compare_and_trend_are_scoped(api: Api, who: str) -> None:
    window = {"window": api.ledger.window}
    top = api.get("/api/v1/costs/top", who, params={**window, "by": "namespace", "k": 50}).json()
    assert {i["name"] for i in top["items"]} == set(SEES[who] or ()) & set(api.ledger.now)
    assert near(dec(top["total"]), Ledger.visible(api.ledger.now, who))
    compare = api.get("/api/v1/costs/compare", who, params=window).json()
    assert near(dec(compare["total"]), Ledger.visible(api.ledger.now, who))
    assert near(dec(compare["previous_total"]), Ledger.visible(api.ledger.before, who))
    trend = api.get("/api/v1/costs/trend", who, params=window).json()
    days = [Ledger.visible(day, who) for day in api.ledger.days]
    assert [near(dec(p["cost"]), d) for p, d in zip(trend["points"], days, strict=True)]
    assert all(near(dec(p["cost"]), d) for p, d in zip(trend["points"], days, strict=True))


def test_namespace_costs_for_a_visible_namespace(api: Api) -> None:
    body = api.get("/api/v1/namespaces/payments/costs", ALICE, params={"window": "7d"}).json()
    assert body["namespace"] == "payments"
    assert near(dec(body["total"]), sum((dec(w["cost"]) for w in body["workloads"]), Decimal(0)))


def test_a_hidden_namespace_is_404_exactly_like_a_nonexistent_one(api: Api) -> None:
    hidden = api.get("/api/v1/namespaces/search/costs", ALICE)
    absent = api.get(f"/api/v1/namespaces/{ABSENT}/costs", ALICE)
    assert hidden.status_code == absent.status_code == 404

    def same(response: httpx.Response, name: str) -> str:
        return response.text.replace(name, "<NAME>")

    assert same(hidden, "search") == same(absent, ABSENT)
    assert set(hidden.headers) - {"x-request-id", "date"} == set(absent.headers) - {
        "x-request-id",
        "date",
    }


def test_no_access_at_all_is_403_naming_the_identity(api: Api) -> None:
    token = api.world.kube.mint_token("dave@demo.example", ["contractors"])
    response = api.http.get("/api/v1/costs/summary", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["identity"]["user"] == "dave@demo.example"


def test_whoami_lists_what_kubernetes_lets_the_caller_see(api: Api) -> None:
    body = api.get("/api/v1/whoami", ALICE).json()
    assert body["user"] == "alice@demo.example"
    assert body["extra"] == {"scopes": ["cost:read"]}
    (cluster,) = body["clusters"].values()
    assert cluster == {"cluster_wide": False, "namespaces": ["checkout", "payments"]}


def test_uid_and_extra_travel_in_every_subject_access_review(api: Api) -> None:
    token = api.world.kube.mint_token(
        "erin@demo.example", ["payments-devs"], uid="uid-erin", extra={"team": ["pay"]}
    )
    before = len(api.world.kube.sar_bodies)
    api.http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    mine = [
        b for b in api.world.kube.sar_bodies[before:] if b["spec"]["user"] == "erin@demo.example"
    ]
    assert mine
    assert all(b["spec"]["uid"] == "uid-erin" for b in mine)
    assert all(b["spec"]["extra"] == {"team": ["pay"]} for b in mine)


# --- authentication -----------------------------------------------------------------------------
def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_that_are_not_for_us_are_401_with_a_bearer_challenge(api: Api) -> None:
    kube = api.world.kube
    refused = {
        "none": {},
        "basic": {"Authorization": "Basic YWxpY2U6cGFzcw=="},
        "unknown": _bearer("not-a-token-anyone-minted"),
        "audience": _bearer(kube.mint_token("alice@demo.example", audiences=["vault"])),
        "expired": _bearer(kube.mint_token("alice@demo.example", expires_in=-5)),
    }
    for why, headers in refused.items():
        response = api.http.get("/api/v1/costs/summary", headers=headers)
        assert response.status_code == 401, why
        challenge = response.headers["www-authenticate"]
        assert challenge == 'Bearer realm="costbot", error="invalid_token"', why
        assert response.headers["content-type"].startswith("application/problem+json")


def test_an_authenticated_review_for_another_audience_is_still_refused(api: Api) -> None:
    token = api.world.kube.mint_token("alice@demo.example", audiences=["vault"])
    api.world.kube.ignore_audiences = True
    try:
        response = api.http.get("/api/v1/whoami", headers=_bearer(token))
    finally:
        api.world.kube.ignore_audiences = False
    assert response.status_code == 401


def test_a_token_in_the_query_string_is_refused_even_when_valid(api: Api) -> None:
    token = api.tokens[ALICE]
    for name in ("access_token", "token"):
        response = api.http.get("/api/v1/whoami", params={name: token})
        assert response.status_code == 401
        assert token not in response.text


def test_reviews_are_cached_by_token(api: Api) -> None:
    token = api.world.kube.mint_token("bob@demo.example", ["search-team"])
    reviews = api.world.kube.requests["token_review"]
    for _ in range(3):
        assert api.http.get("/api/v1/whoami", headers=_bearer(token)).status_code == 200
    assert api.world.kube.requests["token_review"] == reviews + 1


def test_the_token_never_reaches_the_logs(api: Api) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    try:
        token = api.world.kube.mint_token("alice@demo.example", ["payments-devs"])
        api.http.get("/api/v1/costs/top", headers=_bearer(token))
        api.http.get("/api/v1/whoami", params={"access_token": token})
        api.http.get("/api/v1/whoami", headers=_bearer(token + "x"))
    finally:
        logged = stream.getvalue()
        configure_logging("info", "json", stream=io.StringIO())
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "api.request"]
    assert {line["route"] for line in access} >= {"/api/v1/costs/top", "/api/v1/whoami"}
    assert any(line["user"] == "alice@demo.example" for line in access)
    assert token.split(".")[2] not in logged
    assert token not in logged


# --- middleware ---------------------------------------------------------------------------------
def test_cors_answers_only_listed_origins(api: Api) -> None:
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    unknown = api.http.options(
        "/api/v1/whoami", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in unknown.headers
    listed = api.http.options("/api/v1/whoami", headers={"Origin": ORIGIN, **preflight})
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in listed.headers
    simple = api.get("/api/v1/whoami", BOB, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_rate_limit_per_identity(api: Api) -> None:
    token = api.world.kube.mint_token("ratelimited@demo.example", ["search-team"])
    statuses = [
        api.http.get("/api/v1/whoami", headers=_bearer(token)).status_code
        for _ in range(RATE_LIMIT + 1)
    ]
    assert statuses[:RATE_LIMIT] == [200] * RATE_LIMIT
    last = api.http.get("/api/v1/whoami", headers=_bearer(token))
    assert last.status_code == 429
    assert int(last.headers["retry-after"]) >= 1
    assert api.get("/api/v1/whoami", BOB).status_code == 200  # others are not limited


def test_a_large_body_is_refused(api: Api) -> None:
    response = api.http.post(
        "/api/v1/recommendations/abc/acknowledge",
        content=b"{" + b" " * 100_000 + b"}",
        headers={**_bearer(api.tokens[ALICE]), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_bad_input_is_one_message_per_field(api: Api) -> None:
    bad = api.get("/api/v1/costs/top", ALICE, params={"k": "0", "window": "7d"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["query.k"]
    window = api.get("/api/v1/costs/summary", ALICE, params={"window": "fortnight-ish"})
    assert window.status_code == 400
    assert "fortnight-ish" in window.json()["detail"]


# --- CSV ----------------------------------------------------------------------------------------
def test_csv_equals_json(api: Api) -> None:
    params = {"window": api.ledger.window, "by": "controller", "k": 20}
    as_json = api.get("/api/v1/costs/top", CAROL, params=params).json()["items"]
    as_csv = api.get("/api/v1/costs/top", CAROL, params=params, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["name"] for r in rows] == [i["name"] for i in as_json]
    assert [dec(float(r["cost"])) for r in rows] == [dec(i["cost"]) for i in as_json]
    via_format = api.get("/api/v1/costs/top", CAROL, params={**params, "format": "csv"})
    assert via_format.text == as_csv.text


# --- recommendations ----------------------------------------------------------------------------
def test_actions_are_authorized_and_audited_like_buttons(api: Api) -> None:
    listed = api.get("/api/v1/recommendations", ALICE).json()["items"]
    assert listed
    assert all(i["namespace"] in ("payments", "checkout") for i in listed)
    rec = listed[0]
    one = api.get(f"/api/v1/recommendations/{rec['id']}", ALICE).json()
    assert one["version"] == rec["version"]
    stale = api.post(f"/api/v1/recommendations/{rec['id']}/acknowledge", {"version": "old"}, ALICE)
    assert stale.status_code == 409
    stranger = api.post(
        f"/api/v1/recommendations/{rec['id']}/acknowledge", {"version": rec["version"]}, BOB
    )
    assert stranger.status_code == 404
    assert api.get(f"/api/v1/recommendations/{rec['id']}", BOB).status_code == 404
    done = api.post(
        f"/api/v1/recommendations/{rec['id']}/acknowledge", {"version": rec["version"]}, ALICE
    )
    assert done.status_code == 200, done.text
    assert done.json()["item"]["state"] == "acknowledged"
    acked = wait_for_audit(api.world, "recommendation_acknowledged", rec_id=rec["id"])
    assert acked.actor == "k8s:alice@demo.example"
    refused = wait_for_audit(
        api.world, "recommendation_rejected", rec_id=rec["id"], reason="not visible"
    )
    assert refused.actor == "k8s:bob@demo.example"
    stale_entry = wait_for_audit(
        api.world, "recommendation_rejected", rec_id=rec["id"], reason="stale version"
    )
    assert stale_entry.actor == "k8s:alice@demo.example"
    snooze = api.post(
        f"/api/v1/recommendations/{listed[-1]['id']}/snooze",
        {"version": listed[-1]["version"], "days": 10_000},
        ALICE,
    )
    assert snooze.status_code == 400


def test_budgets_and_digests_list_what_slack_lists_and_name_only_what_you_see(api: Api) -> None:
    reply = api.world.ask("budget set namespace payments 1500/month", ALICE)
    assert "payments" in json.dumps(reply)
    api.world.ask("digest subscribe weekly mon at 09:00 namespace payments", ALICE)
    channel = {"channel": "C0COST"}
    (mine,) = api.get("/api/v1/budgets", ALICE, params=channel).json()["items"]
    assert (mine["target"], mine["amount_monthly"], mine["kind"]) == ("payments", 1500, "namespace")
    (theirs,) = api.get("/api/v1/budgets", BOB, params=channel).json()["items"]
    assert theirs["target"] is None  # a namespace Bob may not see is never named
    assert "payments" not in json.dumps(theirs)
    digests = api.get("/api/v1/digests", BOB, params=channel).json()["items"]
    assert [d["namespaces"] for d in digests] == [None]
    assert api.get("/api/v1/digests", ALICE, params=channel).json()["items"][0]["namespaces"] == [
        "payments"
    ]
    # no channel: across channels, only what each may see (what the web page lists too)
    assert api.get("/api/v1/budgets", BOB).json() == {"items": []}
    assert [b["id"] for b in api.get("/api/v1/budgets", ALICE).json()["items"]] == [mine["id"]]
    assert api.get("/api/v1/digests", BOB).json() == {"items": []}
    assert len(api.get("/api/v1/digests", ALICE).json()["items"]) == 1
    listed = api.get("/api/v1/budgets", ADMIN).json()["items"]  # admins: every channel
    assert [b["id"] for b in listed] == [mine["id"]]
    as_csv = api.get("/api/v1/budgets", BOB, params={**channel, "format": "csv"}).text
    assert "payments" not in as_csv


# --- OpenCost down ------------------------------------------------------------------------------
def test_503_when_nothing_is_stored_and_settled_days_answer_while_opencost_is_down(
    api: Api,
) -> None:
    """Answers come from blocks: a window of settled days is kept (until the byte cap evicts
    it), so it answers the same, not stale, while OpenCost is down; a window never asked is 503
    with Retry-After."""
    asked = {"window": api.ledger.window}
    before = api.get("/api/v1/costs/summary", ALICE, params=asked)
    assert before.status_code == 200
    api.world.opencost.mode = "down"
    try:
        again = api.get("/api/v1/costs/summary", ALICE, params=asked)
        assert again.status_code == 200, again.text
        assert again.json()["total"] == before.json()["total"]
        assert again.json()["provenance"]["stale"] is False
        never = api.get("/api/v1/costs/summary", ALICE, params={"window": "2020-01-01..2020-01-02"})
        assert never.status_code == 503
        assert int(never.headers["retry-after"]) > 0
    finally:
        api.world.opencost.mode = "ok"


# --- public parts and metrics -------------------------------------------------------------------
def test_schema_and_docs_are_public_and_metrics_have_routes(api: Api) -> None:
    assert "/v1/costs/summary" in api.spec["paths"]
    docs = api.http.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    api.get("/api/v1/whoami", BOB)
    metrics = api.http.get("/metrics").text
    assert (
        'costbot_api_request_seconds_count{method="GET",route="/api/v1/whoami",status="200"}'
        in metrics
    )
