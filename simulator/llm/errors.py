"""What can go wrong when asking the model, as exceptions a caller can act on.

Every failure carries a short reason code (for the trace and the ledger) and
a detail for people; neither ever contains the API key.
"""

from __future__ import annotations

from simulator.core.protocols import RunHalted


class LLMFailure(Exception):
    """The model gave no usable answer.

    Attributes:
        reason: A short code: "timeout", "rate_limited", "server_error",
            "connection", "client_error", "invalid_json", "schema",
            "truncated" or "empty".
        detail: A short human-readable explanation.
        attempts: Requests made before giving up.
    """

    def __init__(self, reason: str, detail: str, attempts: int) -> None:
        super().__init__(f"{reason}: {detail} (after {attempts} attempt(s))")
        self.reason = reason
        self.detail = detail
        self.attempts = attempts


class TransportError(LLMFailure):
    """The HTTP exchange failed, and retrying did not help (or could not)."""


class InvalidAnswer(LLMFailure):
    """The model answered, but not validly, even after the allowed repairs."""


class BudgetExhausted(RunHalted):  # a state, not a fault: the run ends here
    """The token or dollar budget is spent; no further call is made."""

    event = "budget_exhausted"
