"""The built-in domains: browsing a recommender, and talking to a chatbot."""

from __future__ import annotations

from simulator.core.domain import Domain, Domains

DOMAINS = Domains()
DOMAINS.register(Domain("recsys", "recsys", "simulator.domains.recsys.config:RunConfig"))
DOMAINS.register(Domain("chat", "chat", "simulator.domains.chat.config:ChatConfig"))
