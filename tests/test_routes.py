"""The explicit `/cost` route table: every command the grammar can parse has exactly one route,
and only the commands that reveal no cost data are open to users without a Kubernetes identity."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

from handlers import grammar
from handlers.routes import info
from handlers.routes.table import ROUTES, _table, route

# Derived from the grammar's own union: a new command type without a route fails here.
PARSED_COMMAND_TYPES = set(get_args(grammar.Command))


def test_the_command_union_is_what_the_grammar_returns() -> None:
    assert grammar.Help in PARSED_COMMAND_TYPES
    assert len(PARSED_COMMAND_TYPES) == len(get_args(grammar.Command)) > 10


def test_every_parsed_command_type_has_exactly_one_route() -> None:
    assert set(ROUTES) == PARSED_COMMAND_TYPES
    for kind, entry in ROUTES.items():
        assert entry.kind is kind, kind.__name__


def test_a_second_route_for_one_command_type_is_refused() -> None:
    with pytest.raises(ValueError, match="two routes for Help"):
        _table(route(grammar.Help, info.help_), route(grammar.Help, info.help_))


def test_only_help_and_whoami_are_open_to_unmapped_users() -> None:
    open_ = {kind for kind, entry in ROUTES.items() if entry.unmapped_ok}
    assert open_ == {grammar.Help, grammar.Whoami}


def test_the_table_is_whole_whichever_module_is_imported_first() -> None:
    """Route modules are plain functions (no import-time registration), and the listeners that
    define routes import cleanly before the table does: no import cycle."""
    code = (
        "import handlers.listeners.recs, handlers.routes.costs, handlers.listeners.home\n"
        "from handlers.routes.table import ROUTES\n"
        "print(len(ROUTES))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == str(len(PARSED_COMMAND_TYPES))
