"""A response cache on SQLite: the same request is answered from disk.

The key is a hash of everything that shapes an answer (the model's identity,
the messages, sampling settings, seed and response format) and nothing else,
so an API key or an endpoint address never reaches it. Each answer is written
in its own transaction: a crash loses at most the answer being written, and a
reader never sees part of one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class CachedAnswer:
    """What the server said, as much as a replay needs."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


def cache_key(
    *,
    model: str,
    messages: list[dict[str, str]],
    temperature: float,
    max_tokens: int,
    seed: int,
    response_format: dict[str, Any] | None,
) -> str:
    """sha256 of the canonical JSON of everything that shapes the answer."""
    payload = {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "seed": seed,
        "response_format": response_format,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: any str hashes (one with a lone surrogate, too), and distinct ones differ
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache:
    """Answers by key, in one SQLite table (WAL mode)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit off: each `with self._db` block is one transaction.
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; a power cut may drop the
        # newest answers, which only costs a re-ask.
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.execute(_SCHEMA)

    def get(self, key: str) -> CachedAnswer | None:
        """The stored answer for `key`, or None."""
        row = self._db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM answers"
            " WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return CachedAnswer(
            text=row[0], finish_reason=row[1], prompt_tokens=row[2], completion_tokens=row[3]
        )

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store (or overwrite) the answer for `key`, durably committed on return."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                (
                    key,
                    answer.text,
                    answer.finish_reason,
                    answer.prompt_tokens,
                    answer.completion_tokens,
                ),
            )

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM answers").fetchone()
        return int(count)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def close(self) -> None:
        """Close the connection (answers are already committed)."""
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
