"""The `/cost` route table: which plain function answers each parsed command type.

Written out by hand, in one place, with no import-time registration: reading this table is
reading the bot's whole command surface. `unmapped_ok` marks the few commands a Slack user
without a Kubernetes identity may still run (they reveal no cost data).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from handlers import grammar
from handlers.asker import Asker
from handlers.deps import Deps
from handlers.listeners import recs
from handlers.render.reply import Reply
from handlers.routes import costs, digests, info

# Bound to the commands' base (msgspec.Struct): mypy cannot widen `type[C]` for a C bound to
# the `Command` union back to `type[Command]`. tests/test_routes.py checks the keys are
# exactly the members of `grammar.Command`.
C = TypeVar("C", bound=msgspec.Struct)
Handler = Callable[[C, Deps, Asker], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    """One command type's handler, and whether unmapped users may run it."""

    kind: type[msgspec.Struct]
    run: Callable[[grammar.Command, Deps, Asker], Awaitable[Reply]]
    unmapped_ok: bool = False


def route(kind: type[C], handler: Handler[C], *, unmapped_ok: bool = False) -> Route:
    """A table entry for `kind`, keeping the handler's own command type checked."""

    async def run(command: grammar.Command, deps: Deps, asker: Asker) -> Reply:
        if not isinstance(command, kind):
            raise TypeError(f"{type(command).__name__} is not routed to {kind.__name__}")
        return await handler(command, deps, asker)

    return Route(kind, run, unmapped_ok)


def _table(*routes: Route) -> dict[type[msgspec.Struct], Route]:
    table: dict[type[msgspec.Struct], Route] = {}
    for entry in routes:
        if entry.kind in table:
            raise ValueError(f"two routes for {entry.kind.__name__}")
        table[entry.kind] = entry
    return table


ROUTES: dict[type[msgspec.Struct], Route] = _table(
    # about the bot and the asker
    route(grammar.Help, info.help_, unmapped_ok=True),
    route(grammar.Whoami, info.whoami, unmapped_ok=True),
    route(grammar.Audit, info.audit),
    # cost questions
    route(grammar.Summary, costs.summary),
    route(grammar.NamespaceQuery, costs.namespace),
    route(grammar.Top, costs.top),
    route(grammar.LabelQuery, costs.label),
    route(grammar.Compare, costs.compare),
    route(grammar.Trend, costs.trend),
    route(grammar.WorkloadQuery, costs.workload),
    route(grammar.CsvExport, costs.csv_export),
    # recommendations
    route(grammar.Recommendations, recs.recommendations),
    # digests and budgets
    route(grammar.DigestSubscribe, digests.subscribe),
    route(grammar.DigestList, digests.digest_list),
    route(grammar.DigestUnsubscribe, digests.unsubscribe),
    route(grammar.DigestPreview, digests.preview),
    route(grammar.BudgetSet, digests.budget_set),
    route(grammar.BudgetList, digests.budget_list),
    route(grammar.BudgetRemove, digests.budget_remove),
)
