"""Block Kit rendering: answers in, plain dicts out."""
