"""Replace personal data and secrets in text with placeholders such as ``[EMAIL]``.

Kinds, in the order they are replaced: URLs, emails, API keys, credit-card
numbers (Luhn-valid only), IPv4 addresses, phone numbers. Each pass runs on
the output of the one before; placeholders hold no digits, ``@`` or ``://``,
so a later pass never matches inside one, and a secret inside a URL is
counted once, as a URL.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable

import phonenumbers

PLACEHOLDERS = {
    "url": "[URL]",
    "email": "[EMAIL]",
    "key": "[KEY]",
    "card": "[CARD]",
    "ip": "[IP]",
    "phone": "[PHONE]",
}

_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_PREFIX = re.compile(r"(?:https?://|ftp://|www\.?)", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}"  # sentence punctuation after a URL is not part of it
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_KEY = re.compile(
    r"\b(?:"
    r"sk-[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic (sk-ant-...), and the like
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r")"
)
# 13-19 digits, single spaces or hyphens between them. The look-arounds forbid
# starting or stopping inside a longer run, so 20+ digits never match in part.
_CARD = re.compile(r"(?<!\d)(?<!\d[ -])\d(?:[ -]?\d){12,18}(?!\d)(?![ -]\d)")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w)(?!\.\d)")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum that card numbers carry."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _url_span(match: re.Match[str]) -> tuple[int, int] | None:
    url = match[0].rstrip(_URL_TRAILING)
    if _URL_PREFIX.fullmatch(url):  # "www." at the end of a sentence, say
        return None
    return match.start(), match.start() + len(url)


def _card_span(match: re.Match[str]) -> tuple[int, int] | None:
    digits = re.sub(r"\D", "", match[0])
    return match.span() if luhn_valid(digits) else None


def _ip_span(match: re.Match[str]) -> tuple[int, int] | None:
    try:
        ipaddress.IPv4Address(match[0])
    except ValueError:  # an octet over 255, or a leading zero: a version number, not an address
        return None
    return match.span()


def _replace(
    text: str,
    kind: str,
    pattern: re.Pattern[str],
    counts: Counter[str],
    span: Callable[[re.Match[str]], tuple[int, int] | None] = lambda m: m.span(),
) -> str:
    spans = [s for s in (span(m) for m in pattern.finditer(text)) if s is not None]
    return _splice(text, kind, spans, counts)


def _splice(text: str, kind: str, spans: list[tuple[int, int]], counts: Counter[str]) -> str:
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], PLACEHOLDERS[kind]]
        last = end
    pieces.append(text[last:])
    counts[kind] += len(spans)
    return "".join(pieces)


def _phones(text: str, counts: Counter[str]) -> str:
    # Region "US" reads national numbers as American; "+" numbers carry their own country.
    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, "US")]
    return _splice(text, "phone", spans, counts)


def scrub(text: str) -> tuple[str, Counter[str]]:
    """Replace URLs, emails, API keys, card numbers, IPv4 addresses and phone numbers.

    Args:
        text: Any text.

    Returns:
        The text with each find replaced by its placeholder (see ``PLACEHOLDERS``),
        and how many of each kind were replaced (kinds with none are absent).
    """
    counts: Counter[str] = Counter()
    text = _replace(text, "url", _URL, counts, _url_span)
    text = _replace(text, "email", _EMAIL, counts)
    text = _replace(text, "key", _KEY, counts)
    text = _replace(text, "card", _CARD, counts, _card_span)
    text = _replace(text, "ip", _IPV4, counts, _ip_span)
    text = _phones(text, counts)
    return text, counts
