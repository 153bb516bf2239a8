"""The documents an engine ranks: ids, titles, snippets and URLs, as arrays in one order."""

from __future__ import annotations

from dataclasses import dataclass

from personas.datasets.trec import SessionLog
from simulator.domains.search.interfaces import SearchResult


@dataclass(frozen=True)
class Collection:
    """Documents in a fixed order (sorted by id), so every index built on them agrees."""

    doc_ids: tuple[str, ...]
    titles: tuple[str, ...]
    snippets: tuple[str, ...]
    urls: tuple[str, ...]

    @classmethod
    def from_sessions(cls, log: SessionLog) -> Collection:
        """Every document any real session was shown (its first title and snippet).

        The TREC logs carry no corpus, only the pages people saw; the engines
        under test rank those, so a simulated searcher meets the same documents.
        """
        documents = log.documents()
        ids = sorted(documents)
        return cls(
            doc_ids=tuple(ids),
            titles=tuple(documents[d].title for d in ids),
            snippets=tuple(documents[d].snippet for d in ids),
            urls=tuple(documents[d].url for d in ids),
        )

    def __len__(self) -> int:
        return len(self.doc_ids)

    def texts(self) -> list[str]:
        """What an engine indexes of each document: its title and snippet."""
        return [f"{t} {s}" for t, s in zip(self.titles, self.snippets, strict=True)]

    def result(self, index: int) -> SearchResult:
        """The document at `index` as a page shows it."""
        return SearchResult(
            doc_id=self.doc_ids[index],
            title=self.titles[index],
            snippet=self.snippets[index],
            url=self.urls[index],
        )
