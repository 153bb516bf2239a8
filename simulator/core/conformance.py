"""Does an object the user brings offer a protocol's methods? One line that says what is missing.

A system under test named by `MODULE:ATTR` (a recommender, a search engine)
is checked before the run starts, so a missing or ill-fitting method is one
clear line, not a traceback on day three. Each domain states its protocol as
method name -> the parameters it is called with (after self).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

Signatures = Mapping[str, tuple[str, ...]]


def method_problems(obj: Any, signatures: Signatures, *, unbound: bool) -> list[str]:
    """What `obj` (a class if `unbound`) lacks of `signatures`.

    Each problem reads "a method m(params)" (missing) or "m(params), not m(theirs)".
    """
    problems = []
    for method, params in signatures.items():
        fn = getattr(obj, method, None)
        wanted = f"{method}({', '.join(params)})"
        if not callable(fn):
            problems.append(f"a method {wanted}")
            continue
        try:
            signature = inspect.signature(fn)
            signature.bind(*(("self", *params) if unbound else params))
        except TypeError:
            shown = signature.replace(parameters=list(signature.parameters.values())[unbound:])
            problems.append(f"{wanted}, not {method}{shown}")
        except ValueError:  # no signature to read (a builtin): trust it
            pass
    return problems


def name_problems(obj: Any) -> list[str]:
    """A `name` attribute, if `obj` has no non-empty str one."""
    name = getattr(obj, "name", None)
    return [] if isinstance(name, str) and name else ["a `name` attribute (a non-empty str)"]


def refuse(obj: Any, where: str, problems: list[str], what: str, see: str) -> None:
    """Raise ValueError naming every problem, if there are any."""
    if problems:
        kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise ValueError(
            f"{where} ({kind}) is not {what}: it needs " + "; ".join(problems) + f" (see {see})"
        )


def construct(
    target: Any,
    args: tuple[Any, ...],
    takes: str,
    where: str,
    looks_built: Callable[[Any], bool],
) -> Any:
    """`target` itself if it is built already, else what calling it with `args` gives.

    `takes` names the arguments for the message of a factory that cannot take them.
    """
    if looks_built(target):
        return target
    assert callable(target)
    try:
        inspect.signature(target).bind(*args)
    except TypeError:
        raise ValueError(f"{where}: must take {takes}, not {inspect.signature(target)}") from None
    except ValueError:  # no signature to read: let the call say
        pass
    return target(*args)
