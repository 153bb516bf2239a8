"""The built-in domains: browsing a recommender, talking to a chatbot, using a search engine."""

from __future__ import annotations

from simulator.core.domain import Domain, Domains

DOMAINS = Domains()
DOMAINS.register(Domain("recsys", "recsys", "simulator.domains.recsys.config:RunConfig"))
DOMAINS.register(Domain("chat", "chat", "simulator.domains.chat.config:ChatConfig"))
DOMAINS.register(Domain("search", "search", "simulator.domains.search.config:SearchConfig"))
