"""Text from outside (a chatbot, a model server, a file) as valid Unicode, before it is kept.

A Python `str` can hold a lone surrogate (a JSON escape such as u+D800 decodes to one), but
no UTF-8 file can: SQLite, Parquet and every export would fail on it. It is
replaced by U+FFFD where text enters, so the rest of the run never meets it.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (unchanged otherwise)."""
    return text if text.isascii() else _SURROGATE.sub(REPLACEMENT, text)
