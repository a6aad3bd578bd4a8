"""`costbot demo`, `ask` and `console`: real commands through the real app, shown in a terminal."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.settings import Settings
from demo.session import LocalSession, StartOfToday
from demo.slack import Said
from demo.terminal import ButtonRef, inputs_of, render

ReadLine = Callable[[str], Awaitable[str]]  # prompt → the line typed (EOFError at the end)
Write = Callable[[str], object]

# (who, command, what it shows). U0DEMOADMIN sees everything; alice sees payments + checkout;
# U0NEWBIE is not mapped at all.
TOUR: tuple[tuple[str, str, str], ...] = (
    ("U0NEWBIE", "help", "An unmapped user gets help and is told whom to ask"),
    ("U0ALICE", "whoami", "alice's Kubernetes identity and the namespaces RBAC lets her see"),
    (
        "U0DEMOADMIN",
        "summary 7d",
        "The platform team sees the whole cluster, idle capacity included",
    ),
    ("U0ALICE", "summary 7d", "alice asks the same question and sees only her namespaces"),
    ("U0ALICE", "ns payments 7d", "One namespace by workload and by resource"),
    (
        "U0ALICE",
        "ns search",
        "A namespace alice may not see answers exactly like one that does not exist",
    ),
    ("U0DEMOADMIN", "top 5 by controller 30d", "The biggest workloads"),
    ("U0DEMOADMIN", "compare 7d", "This week against the week before, with movers"),
    ("U0DEMOADMIN", "trend 14d", "Daily spend with a chart"),
    ("U0DEMOADMIN", "recs", "Savings you can act on"),
    ("U0DEMOADMIN", "digest preview", "The weekly digest, now, with real data"),
    ("U0DEMOADMIN", "sumary", "A typo gets a 'did you mean'"),
)


def _messages(said: list[Said]) -> list[dict[str, Any]]:
    shown = []
    for item in said:
        payload = item.payload
        if item.kind == "file":
            continue
        if isinstance(payload.get("blocks"), str):
            payload = {**payload, "blocks": json.loads(payload["blocks"])}
        if item.kind in {"view", "home"}:
            view = payload.get("view")
            payload = json.loads(view) if isinstance(view, str) else (view or {})
        shown.append(payload)
    return shown


def _image_paths(session: LocalSession) -> dict[str, str]:
    return session.slack.image_paths()


def show(
    session: LocalSession,
    said: list[Said],
    color: bool,
    start: int = 1,
    write: Callable[[str], object] = print,
) -> list[ButtonRef]:
    buttons: list[ButtonRef] = []
    for message in _messages(said):
        rendered = render(
            message, color=color, start=start + len(buttons), image_paths=_image_paths(session)
        )
        write(rendered.text + "\n")
        buttons.extend(rendered.buttons)
    return buttons


def _opened_modals(said: list[Said]) -> list[dict[str, Any]]:
    """Modals the bot opened (views.open) that have fields to fill in and a submit button."""
    views = [m for item, m in zip(said, _messages(said), strict=False) if item.kind == "view"]
    return [view for view in views if inputs_of(view)]


async def _fill_in(
    session: LocalSession, view: dict[str, Any], user: str, read: ReadLine, write: Write
) -> list[Said]:
    """Ask for each field of the modal, then submit it through the real app, as Slack would;
    fields the bot refuses are asked again with its reason. An empty required answer cancels."""
    fields = inputs_of(view)
    title = str((view.get("title") or {}).get("text", "dialog"))
    submit = str((view.get("submit") or {}).get("text", "Submit"))
    write(f"↳ {title}: fill in {len(fields)} field(s) to {submit.lower()}; empty cancels.")
    values: dict[tuple[str, str], str] = {}
    while True:
        for field in fields:
            text = await read(f"  {field.label}{' (optional)' if field.optional else ''}: ")
            text = text.strip()
            if not text and not field.optional:
                write("  cancelled: nothing was submitted\n")
                return []
            values[(field.block_id, field.action_id)] = text
        result = await session.submit(view, values, user)
        if not result.errors:
            return result.said
        for field in fields:
            if field.block_id in result.errors:
                write(f"  ✗ {field.label}: {result.errors[field.block_id]}")
        fields = [field for field in fields if field.block_id in result.errors]


def _files_dir() -> Path:
    return Path(tempfile.gettempdir()) / "costbot-demo"


async def demo(settings: Settings, color: bool = False) -> int:
    rule = "═" * 78
    # Every figure is as of 00:00 UTC today, so two runs on the same day print the same tour.
    async with LocalSession(settings, files_dir=_files_dir(), clock=StartOfToday()) as session:
        print(rule)
        print("costbot demo · every reply below went through the real app: a signed request,")
        print("signature check, identity + RBAC, the cost services, Block Kit, response_url.")
        print(rule)
        for user, text, what in TOUR:
            print(f"\n▶ {what}\n  {user} types: /cost {text}\n")
            buttons = show(session, await session.ask(text, user), color)
            if text == "recs":
                await _press_first(session, buttons, "rec_ack", user, color)
        print(rule)
        print("Figures are as of 00:00 UTC today: every run today shows the same ones.")
        print(f"Charts were saved under {_files_dir()}.")
    return 0


async def _press_first(
    session: LocalSession, buttons: list[ButtonRef], action_id: str, user: str, color: bool
) -> None:
    for button in buttons:
        if button.action_id == action_id:
            print(f"▶ {user} presses [{button.number}] {button.text}\n")
            show(
                session,
                await session.click(
                    action_id=action_id,
                    value=button.value or "",
                    user=user,
                    block_id=button.block_id or "",
                ),
                color,
            )
            return


async def ask(settings: Settings, text: str, user: str) -> int:
    async with LocalSession(settings, files_dir=_files_dir()) as session:
        show(session, await session.ask(text, user), color=sys.stdout.isatty())
    return 0


async def _input(prompt: str) -> str:
    return await asyncio.to_thread(input, prompt)


async def console(
    settings: Settings, user: str, read: ReadLine = _input, write: Write = print
) -> int:
    """The interactive console. `read` and `write` are the terminal (tests pass their own)."""
    write("costbot console · type /cost commands (or just the words), a number to press a")
    write("button, 'as USERID' to switch user, 'quit' to leave. Dialogs ask for each field.")
    buttons: list[ButtonRef] = []
    color = write is print and sys.stdout.isatty()
    async with LocalSession(settings, files_dir=_files_dir()) as session:
        while True:
            try:
                line = (await read(f"{user}> ")).strip()
            except EOFError:
                break
            if line in ("quit", "exit"):
                break
            if line.startswith("as "):
                user = line[3:].strip()
                continue
            if line.isdigit() and buttons:
                chosen = next((b for b in buttons if b.number == int(line)), None)
                if chosen is None:
                    write("no such button")
                    continue
                said = await session.click(
                    action_id=chosen.action_id,
                    value=chosen.value or "",
                    user=user,
                    block_id=chosen.block_id or "",
                )
            else:
                said = await session.ask(line.removeprefix("/cost").strip(), user)
            buttons = show(session, said, color, write=write)
            for view in _opened_modals(said):
                try:
                    answered = await _fill_in(session, view, user, read, write)
                except EOFError:
                    return 0
                if answered:
                    buttons = show(session, answered, color, write=write)
    return 0
