"""The local console as a person uses it: commands, buttons by number, and dialogs filled in
field by field and submitted through the real app (a signed `view_submission`).

The console reads and writes through the functions it is given, so the test plays the person at
the keyboard: it reads what was written and answers the next prompt.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import Settings
from demo.session import LocalSession, StartOfToday
from demo.terminal import inputs_of
from demo.tour import console
from handlers.listeners.commands import CHART_DM_ACTION
from tests.standins.server import wait_until_async


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


class Keyboard:
    """Answers prompts from a script; each answer may depend on what was written so far."""

    def __init__(self, *answers: str | object) -> None:
        self.answers = list(answers)
        self.written: list[str] = []
        self.prompts: list[str] = []

    def write(self, text: str) -> None:
        self.written.append(text)

    async def read(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        answer = self.answers.pop(0)
        return answer(self) if callable(answer) else str(answer)

    @property
    def screen(self) -> str:
        return "\n".join(self.written)


def dismiss_number(keyboard: Keyboard) -> str:
    """The number the console gave the first Dismiss button on screen."""
    found = re.search(r"\[(\d+)\] Dismiss", keyboard.screen)
    assert found, keyboard.screen[-2000:]
    return found.group(1)


async def test_the_dismiss_dialog_is_filled_in_and_submitted(settings: Settings) -> None:
    keyboard = Keyboard("recs", dismiss_number, "ok", "we moved it to spot nodes", "quit")
    assert await console(settings, "U0DEMOADMIN", keyboard.read, keyboard.write) == 0
    screen = keyboard.screen
    assert "↳ Dismiss recommendation: fill in 1 field(s) to dismiss; empty cancels." in screen
    assert "  Why? (kept in the audit log): " in keyboard.prompts
    # the service refused the two-letter reason; the field was asked again with its words
    assert "  ✗ Why? (kept in the audit log): Please say why (3+ characters)." in screen
    assert keyboard.prompts.count("  Why? (kept in the audit log): ") == 2
    after = screen.split("✗ Why?", 1)[1]
    assert "Dismissed" in after or "dismissed" in after, after[-1500:]


async def test_an_empty_answer_cancels_the_dialog(settings: Settings) -> None:
    keyboard = Keyboard("recs", dismiss_number, "", "quit")
    await console(settings, "U0DEMOADMIN", keyboard.read, keyboard.write)
    assert "  cancelled: nothing was submitted\n" in keyboard.written
    assert "dismissed" not in keyboard.screen.split("cancelled", 1)[1].lower()


async def test_a_view_without_submit_has_nothing_to_fill_in() -> None:
    view = {"type": "modal", "blocks": [{"type": "input", "block_id": "b",
            "label": {"type": "plain_text", "text": "x"},
            "element": {"type": "plain_text_input", "action_id": "a"}}]}  # fmt: skip
    assert inputs_of(view) == []
    fields = inputs_of({**view, "submit": {"type": "plain_text", "text": "Go"}})
    assert [(f.block_id, f.action_id, f.label) for f in fields] == [("b", "a", "x")]


# --- every surface says "demo data" ------------------------------------------------------------
async def test_app_home_and_chart_titles_say_demo_data(settings: Settings, tmp_path: Path) -> None:
    async with LocalSession(settings, files_dir=tmp_path / "files") as session:
        home = [s for s in await session.open_home("U0ALICE") if s.kind == "home"]
        said = await session.ask("trend 14d", "U0ALICE")
        # A private reply carries no picture; "Send me the chart" DMs the PNG.
        value = next(
            element["value"]
            for s in said
            for block in s.payload.get("blocks", [])
            for element in block.get("elements", [])
            if element.get("action_id") == CHART_DM_ACTION
        )
        await session.click(action_id=CHART_DM_ACTION, value=value, user="U0ALICE")
        uploads = await wait_until_async(
            lambda: [s for s in session.slack.said if s.kind == "file"] or None,
            timeout=30,
            failure=lambda: f"no chart was sent: {[s.kind for s in session.slack.said]}",
        )
    assert home, "the App Home was not published"
    assert "demo data" in str(home[-1].payload["view"])
    assert "demo data" in str(uploads[-1].payload)


async def test_the_tour_clock_is_midnight_utc_today() -> None:
    now = StartOfToday().now()
    assert (now.hour, now.minute, now.second, now.microsecond) == (0, 0, 0, 0)
    assert now.utcoffset() == timedelta(0)
