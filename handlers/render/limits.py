"""Slack's documented Block Kit limits, in one place.

The builders (`blocks`) refuse or cut what breaks them, `fit` brings any message within them and
`validate` lists what breaks them; all three read the numbers from here.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_ALT_TEXT = 2000
MAX_IMAGE_TITLE = 2000
MAX_URL = 3000


def id_ok(value: Any) -> bool:
    """Whether `value` may be a block_id or action_id: a string of 1–255 characters."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID
