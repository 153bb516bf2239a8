"""One way to say what pydantic found wrong: the first error's place and message."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


def first_error(exc: ValidationError, prefix: Sequence[object] = ()) -> tuple[str, str]:
    """The first error of `exc` as (dotted place, message).

    Args:
        exc: What pydantic raised.
        prefix: Parts of the place above the validated value (a section, an index).

    Returns:
        The place, e.g. ``interactions.columns.user`` or ``turns[3].text`` (empty at
        the top level), and pydantic's message.
    """
    first = exc.errors()[0]
    place = ""
    for part in (*prefix, *first["loc"]):
        if isinstance(part, int):
            place += f"[{part}]"
        else:
            place += f".{part}" if place else str(part)
    return place, str(first["msg"])
