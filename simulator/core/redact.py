"""Secrets out of everything a run writes: keys from the environment, URL credentials, key shapes.

Applied where text leaves the process — the manifest and A/B record, every
Parquet part (trace and LLM ledger), the error line the CLI prints — so a key
echoed back by a server ("Incorrect API key provided: sk-…") or typed into
`--api-base http://user:KEY@host/v1?token=…` never lands on disk or a screen.
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "[redacted]"
# Environment variables whose values are credentials (OPENAI_API_KEY, HF_TOKEN, …).
_SECRET_VARS = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.I)
_MIN_SECRET = 8  # shorter values ("1", "true") are settings, not keys
_URL_USERINFO = re.compile(r"(?<=://)[^/\s@:]*(?::[^/\s@]*)?@")
_QUERY_SECRET = re.compile(
    r"(?<=[?&])((?:api[_-]?key|key|token|access_token|secret|password|sig|signature)=)[^&\s#\"']+",
    re.I,
)
_KEY_SHAPED = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,})"
    r"|(?<=Bearer )[A-Za-z0-9._~+/\-]{8,}=*"
)
_HARMLESS = frozenset({"sk-no-key"})  # the embedded server's placeholder


def environment_secrets() -> list[str]:
    """The values of credential-named environment variables, longest first."""
    values = {
        value
        for name, value in os.environ.items()
        if _SECRET_VARS.search(name) and len(value) >= _MIN_SECRET and value not in _HARMLESS
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """`text` with credentials masked; `secrets` defaults to `environment_secrets()`."""
    for secret in environment_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_USERINFO.sub(MASK + "@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return _KEY_SHAPED.sub(lambda m: m.group() if m.group() in _HARMLESS else MASK, text)


def redact_tree(value: Any, secrets: list[str] | None = None) -> Any:
    """Every string in a JSON-like tree (a manifest), keys included, redacted."""
    secrets = environment_secrets() if secrets is None else secrets
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_tree(k, secrets): redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v, secrets) for v in value]
    return value
