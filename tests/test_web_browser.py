"""The web view in headless Chromium against the real bot (two clusters, stand-ins for Slack,
OpenCost and Kubernetes): sign in with Slack (the real OIDC code flow against the local Slack)
and with a Kubernetes token, see only your namespaces with totals to the cent against an
independent ledger, the same 404 for hidden and absent namespaces, acknowledge a
recommendation and find it in Slack's `/cost recs all`, sign out. Screenshots of the overview
and namespace pages are saved under tests/artifacts/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from demo.cluster import DemoCluster
from tests.bot_harness import MovableClock, World
from tests.cost_world import all_text, cost_world
from tests.rbac_world import ADMIN, ALICE, BOB, CAROL, SEES, Ledger
from tests.redis_server import RedisServer, free_port
from tests.standins.opencost import OpenCostStandIn

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
SEEDS = {"east": 7, "west": 23}
USERS = {
    ADMIN: ("admin@demo.example", ["platform-admins"]),
    ALICE: ("alice@demo.example", ["payments-devs"]),
    BOB: ("bob@demo.example", ["search-team"]),
    CAROL: ("carol@demo.example", ["sre"]),
}
_MONEY = re.compile(r"([−-]?)\$([0-9,]+(?:\.[0-9]{2})?)")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium (make browser)")


class Site:
    def __init__(self, world: World, ledgers: dict[str, Ledger], browser: Any) -> None:
        self.world, self.ledgers, self.browser = world, ledgers, browser
        self.url = world.bot.url

    @property
    def window(self) -> str:
        start, end = next(iter(self.ledgers.values())).start, next(iter(self.ledgers.values())).end
        return f"window=custom&from={start:%Y-%m-%d}&to={end - timedelta(days=1):%Y-%m-%d}"

    def page(self, width: int = 1280) -> Any:
        context = self.browser.new_context(viewport={"width": width, "height": 900})
        return context.new_page()

    def slack_login(self, page: Any, user: str) -> None:
        page.goto(self.url + "/login")
        page.click("#slack-login")  # → the local Slack's authorize page
        page.wait_for_url(re.compile(r".*/openid/connect/authorize.*"))
        page.click(f'button[value="{user}"]')
        page.wait_for_url(self.url + "/")

    def token_login(self, page: Any, who: str) -> None:
        user, groups = USERS[who]
        token = self.world.kube.mint_token(user, groups)
        page.goto(self.url + "/login")
        page.fill("#token", token)
        page.click("text=Sign in with a token")
        page.wait_for_url(self.url + "/")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    clock = MovableClock()
    clusters = {name: DemoCluster(clock, seed=seed, name=name) for name, seed in SEEDS.items()}
    port = free_port()
    with ExitStack() as stack:
        redis = RedisServer(tmp / "redis")
        redis.start()
        stack.callback(redis.stop)
        standins = {
            name: stack.enter_context(OpenCostStandIn(responder=cluster.respond))
            for name, cluster in clusters.items()
        }
        settings: dict[str, Any] = {
            "port": port,
            "web_enabled": True,
            "web_base_url": f"http://127.0.0.1:{port}",
            "slack_client_id": "1234567890.0987654321",
            "slack_client_secret": "local-oidc-secret",
        }
        world = stack.enter_context(cost_world(redis.url, tmp, standins, clock=clock, **settings))
        today = clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        ledgers = {
            name: Ledger(cluster, today - timedelta(days=7), 7)
            for name, cluster in clusters.items()
        }
        driver = stack.enter_context(playwright.sync_playwright())
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        stack.callback(browser.close)
        yield Site(world, ledgers, browser)


def money_of(text: str) -> Decimal:
    match = _MONEY.search(text)
    assert match is not None, text
    return Decimal(match.group(2).replace(",", "")) * (-1 if match.group(1) else 1)


def rows_of(page: Any) -> dict[tuple[str, str], Decimal]:
    found = {}
    for row in page.locator("#namespaces tbody tr").all():
        name = row.locator("th").inner_text().strip()
        cells = row.locator("td").all_inner_texts()
        found[(cells[0].strip(), name)] = money_of(cells[1])
    return found


@pytest.mark.parametrize("who", [ADMIN, ALICE, BOB, CAROL])
def test_each_identity_sees_only_its_namespaces_to_the_cent(site: Site, who: str) -> None:
    page = site.page()
    site.token_login(page, who)
    page.goto(f"{site.url}/?{site.window}")
    rows = rows_of(page)
    sees = SEES[who] or frozenset()
    assert {name for _, name in rows} <= set(sees)
    for cluster, ledger in site.ledgers.items():
        for name in sees & set(ledger.now):
            assert abs(rows[(cluster, name)] - ledger.now[name]) <= Decimal("0.005"), name
    expected = sum(
        (Ledger.visible(ledger.now, who) for ledger in site.ledgers.values()), Decimal(0)
    )
    total = money_of(page.locator(".total").first.inner_text())
    assert abs(total - expected) <= Decimal("0.005")
    hidden = {"payments", "search", "monitoring"} - set(sees)
    body = page.locator("#namespaces").inner_text()
    assert not any(name in body.split() for name in hidden)
    page.context.close()


def test_slack_sign_in_overview_namespace_404_ack_and_logout(site: Site) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = site.page()
    site.slack_login(page, ALICE)
    page.goto(f"{site.url}/?{site.window}")
    assert "alice@demo.example" in page.locator("main").inner_text()
    assert {name for _, name in rows_of(page)} == {"payments", "checkout"}
    assert page.locator("svg[role=img] rect").count() > 7  # a bar segment per day and namespace
    page.screenshot(path=str(ARTIFACTS / "web-overview.png"), full_page=True)
    # the namespace page, then the same 404 for a hidden and an absent namespace
    page.click("#namespaces tbody tr >> nth=0 >> th a")
    page.wait_for_url(re.compile(r".*/namespaces/(payments|checkout).*"))
    assert page.locator("#workloads tbody tr").count() >= 1
    hidden = page.goto(site.url + "/namespaces/search")
    hidden_text = page.locator("main").inner_text()
    absent = page.goto(site.url + "/namespaces/zz-absent")
    assert hidden is not None
    assert absent is not None
    assert hidden.status == absent.status == 404
    assert hidden_text == page.locator("main").inner_text()
    # acknowledge a recommendation of payments, then Slack lists it as acknowledged
    page.goto(site.url + "/namespaces/payments")
    page.screenshot(path=str(ARTIFACTS / "web-namespace.png"), full_page=True)
    first = page.locator("article.rec").first
    title = first.locator("h3").inner_text()
    first.locator("text=Acknowledge").click()
    page.wait_for_url(site.url + "/namespaces/payments?done=acknowledged")
    assert "acknowledged" in page.locator("[role=status]").inner_text()
    reply = site.world.ask("recs payments all", user=ALICE)
    assert "Acknowledged" in all_text(reply), title
    print(f"screenshots: {ARTIFACTS / 'web-overview.png'} {ARTIFACTS / 'web-namespace.png'}")
    # sign out: the session is gone on the server, the cookie no longer opens a page
    cookies = page.context.cookies()
    page.goto(site.url + "/logout")
    page.wait_for_url(site.url + "/login")
    page.context.add_cookies(cookies)
    page.goto(site.url + "/")
    assert page.url == site.url + "/login"
    page.context.close()


def test_a_phone_width_page_is_readable(site: Site) -> None:
    page = site.page(width=390)
    site.token_login(page, BOB)
    page.goto(f"{site.url}/?{site.window}")
    assert page.locator("#namespaces tbody tr").count() == 2  # search in east and west
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400  # only the table scrolls, inside its own box
    page.screenshot(path=str(ARTIFACTS / "web-overview-phone.png"), full_page=True)
    page.context.close()


def test_a_stale_form_gets_a_reload_page_and_changes_nothing(site: Site) -> None:
    page = site.page()
    site.token_login(page, ALICE)
    page.goto(site.url + "/namespaces/payments")
    rec = page.locator("article.rec").filter(has=page.locator("form")).first
    rec_id = rec.get_attribute("id")
    # the form as a page loaded before the recommendation was recomputed would carry it
    rec.locator('form[action$="/snooze"] input[name=version]').evaluate("e => e.value = 'v0'")
    rec.locator('form[action$="/snooze"] button').click()
    page.wait_for_load_state()
    assert "changed since you loaded the page" in page.locator("main").inner_text()
    page.click("#reload")
    page.wait_for_url(site.url + "/namespaces/payments")
    assert page.locator(f"#{rec_id} .status").inner_text() == "open"
    assert page.locator("[role=status]").count() == 0
    page.context.close()


def test_the_budgets_page_lists_what_you_may_see_across_channels(site: Site) -> None:
    site.world.ask("budget set namespace payments 1500/month", user=ALICE)
    site.world.ask("budget set namespace search 900/month", user=BOB)
    page = site.page()
    site.slack_login(page, ALICE)
    page.goto(site.url + "/budgets")
    budgets = page.locator("#budgets tbody").inner_text()
    assert "payments" in budgets
    assert "$1,500.00" in budgets
    assert "search" not in budgets
    assert "$900.00" not in budgets  # Bob's budget is not listed at all, not even unnamed
    page.context.close()
