"""The `/cost` grammar: the text after `/cost` becomes one typed command.

Pure (`now` is passed in) and total: `parse` returns a Command or raises UserInputError.
"""

from __future__ import annotations

from handlers.grammar.commands import (
    Audit,
    BudgetList,
    BudgetRemove,
    BudgetSet,
    Command,
    Compare,
    CsvExport,
    DigestList,
    DigestPreview,
    DigestSubscribe,
    DigestUnsubscribe,
    Dimension,
    Help,
    LabelQuery,
    NamespaceQuery,
    Recommendations,
    Summary,
    Top,
    Trend,
    Whoami,
    WorkloadQuery,
)
from handlers.grammar.parser import parse
from handlers.grammar.usage import ALIASES, COMMAND_WORDS, USAGE, usage_for
from services.costs.views import Focus  # one Focus, the services' (grammar may import them)

__all__ = [
    "ALIASES",
    "COMMAND_WORDS",
    "USAGE",
    "Audit",
    "BudgetList",
    "BudgetRemove",
    "BudgetSet",
    "Command",
    "Compare",
    "CsvExport",
    "DigestList",
    "DigestPreview",
    "DigestSubscribe",
    "DigestUnsubscribe",
    "Dimension",
    "Focus",
    "Help",
    "LabelQuery",
    "NamespaceQuery",
    "Recommendations",
    "Summary",
    "Top",
    "Trend",
    "Whoami",
    "WorkloadQuery",
    "parse",
    "usage_for",
]
