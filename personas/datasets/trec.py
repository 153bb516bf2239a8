"""TREC Session Track XML: real search sessions, each query with its results and clicks.

One file (`sessiontrack2013.xml` for 2013; 2011–2014 share the shape) holds
sessions of one searcher on one topic:

    <session num="1" starttime="0">
      <topic num="1"><desc>You are writing an article about ...</desc></topic>
      <interaction num="1" starttime="99.4">
        <query>US civil war causes</query>
        <results><result rank="1"><url>…</url><clueweb12id>…</clueweb12id>
                 <title>…</title><snippet>…</snippet></result> …</results>
        <clicked><click num="1" starttime="143.5" endtime="152.6"><rank>1</rank></click></clicked>
      </interaction>
      …
      <currentquery starttime="170.4"><query>US civil war economic causes</query></currentquery>
    </session>

Times are seconds from the session's start; a click's end time may be "NA"
(not logged), read as None. The XML is parsed with defusedxml
(no entities, no DTDs: a file is data). A file that does not fit says where:
the file, the session, the interaction and the field, and why.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError, SubElement, indent, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, DTDForbidden

from personas.atomic import write_text_atomically
from personas.datasets.errors import DatasetError
from personas.datasets.resolve import data_root

MAX_TEXT = 20_000  # characters in one query, title or snippet: past it a file is not a log
MAX_RANK = 1_000


@dataclass(frozen=True)
class Result:
    """One result shown for a query: its rank (1 = top), document and what the page showed."""

    rank: int
    doc_id: str  # the collection's id (clueweb12id), else the URL
    url: str
    title: str
    snippet: str


@dataclass(frozen=True)
class Click:
    """One click on a result, by rank, with the seconds it began and ended (None: not logged)."""

    rank: int
    start: float
    end: float | None

    @property
    def dwell(self) -> float | None:
        """Seconds on the clicked page; None where the log has no end (TREC writes "NA")."""
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True)
class Query:
    """One query of a session: its text, when it was issued, what it showed, what was clicked."""

    number: int
    text: str
    start: float
    results: tuple[Result, ...]
    clicks: tuple[Click, ...]


@dataclass(frozen=True)
class SearchSession:
    """One searcher's session on one topic.

    Attributes:
        id: The session's number, as text.
        topic: The topic's number, as text (several sessions share a topic).
        need: The topic's description: the information need, in words.
        queries: The interactions, in order.
        final_query: The query the searcher was about to issue when the log ends
            (TREC's ``currentquery``), if the file has it.
        final_start: When that query was issued.
    """

    id: str
    topic: str
    need: str
    queries: tuple[Query, ...]
    final_query: str | None = None
    final_start: float | None = None

    def texts(self) -> list[str]:
        """Every query issued, in order: the interactions', then the logged last one's."""
        final = [self.final_query] if self.final_query is not None else []
        return [q.text for q in self.queries] + final


@dataclass(frozen=True)
class SessionLog:
    """The sessions of one file, in file order."""

    path: Path
    sessions: tuple[SearchSession, ...]

    def ids(self) -> list[str]:
        """Session ids, in file order."""
        return [s.id for s in self.sessions]

    def subset(self, ids: Iterable[str]) -> SessionLog:
        """The sessions whose id is in `ids`, in file order."""
        wanted = set(ids)
        return SessionLog(self.path, tuple(s for s in self.sessions if s.id in wanted))

    def documents(self) -> dict[str, Result]:
        """Every document shown in any session, by id: its first title and snippet."""
        found: dict[str, Result] = {}
        for session in self.sessions:
            for query in session.queries:
                for result in query.results:
                    found.setdefault(result.doc_id, result)
        return found


def terms(text: str) -> list[str]:
    """Lower-cased word terms of a query or snippet (letters and digits; the rest splits)."""
    cleaned = "".join(ch.lower() if ch.isalnum() else " " for ch in text)
    return cleaned.split()


def load_trec_sessions(path: str | Path) -> SessionLog:
    """Read a TREC Session Track file (or the one ``*.xml`` in a folder).

    Raises:
        DatasetError: The file is missing, is not well-formed XML, uses
            entities or a DTD, or a session, interaction, result or click lacks
            a field or holds one that is not what it should be. The message
            names the file, the element and the field.
    """
    file = _locate(Path(path))
    try:
        root = SafeET.parse(file, forbid_dtd=True).getroot()
    except ParseError as exc:
        line, column = exc.position
        raise DatasetError(f"{file}, line {line}, column {column}: not well-formed XML") from None
    except DefusedXmlException as exc:
        what = "a DTD" if isinstance(exc, DTDForbidden) else "entities"
        raise DatasetError(
            f"{file}: refused: the file declares {what} (entities and DTDs are never read)"
        ) from None
    except (OSError, LookupError, ValueError) as exc:  # unreadable; an unknown encoding
        raise DatasetError(f"{file}: cannot be read ({exc})") from None
    if not root.tag.startswith("sessiontrack"):
        raise DatasetError(f"{file}: the root element is <{root.tag}>, not <sessiontrack…>")
    sessions = [_session(file, element) for element in root.findall("session")]
    if not sessions:
        raise DatasetError(f"{file}: no <session> elements")
    seen: set[str] = set()
    for session in sessions:
        if session.id in seen:
            raise DatasetError(f"{file}, session {session.id}: the session number is repeated")
        seen.add(session.id)
    return SessionLog(file, tuple(sessions))


def write_trec_sessions(log: SessionLog | Iterable[SearchSession], path: str | Path) -> Path:
    """Write sessions in the Session Track's shape, so that its readers (and this one) take them."""
    sessions = log.sessions if isinstance(log, SessionLog) else tuple(log)
    root = Element("sessiontrack2013")
    for session in sessions:
        node = SubElement(root, "session", num=session.id, starttime="0")
        SubElement(SubElement(node, "topic", num=session.topic), "desc").text = session.need
        for query in session.queries:
            interaction = SubElement(
                node, "interaction", num=str(query.number), starttime=repr(query.start)
            )
            SubElement(interaction, "query").text = query.text
            results = SubElement(interaction, "results")
            for result in query.results:
                item = SubElement(results, "result", rank=str(result.rank))
                SubElement(item, "url").text = result.url
                if result.doc_id != result.url:
                    SubElement(item, "clueweb12id").text = result.doc_id
                SubElement(item, "title").text = result.title
                SubElement(item, "snippet").text = result.snippet
            if query.clicks:
                clicked = SubElement(interaction, "clicked")
                for index, click in enumerate(query.clicks):
                    end = "NA" if click.end is None else repr(click.end)
                    attributes = {"num": str(index + 1), "starttime": repr(click.start)}
                    entry = SubElement(clicked, "click", attributes, endtime=end)
                    SubElement(entry, "rank").text = str(click.rank)
        if session.final_query is not None:
            when = {} if session.final_start is None else {"starttime": repr(session.final_start)}
            current = SubElement(node, "currentquery", when)
            SubElement(current, "query").text = session.final_query
    indent(root, "   ")
    text = tostring(root, encoding="unicode", xml_declaration=True)
    return write_text_atomically(Path(path), text + "\n")


def _locate(path: Path) -> Path:
    root = data_root()
    if not path.exists() and len(path.parts) == 1 and root is not None:
        path = root / path  # a name under SIMFOLK_DATA, e.g. "trec-session-2013"
    if path.is_dir():
        files = sorted(path.glob("*.xml"))
        if len(files) != 1:
            found = ", ".join(f.name for f in files) or "none"
            raise DatasetError(f"{path}: expected one TREC session *.xml file, found {found}")
        return files[0]
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (a TREC Session Track XML file or its folder)")
    return path


class _At:
    """Where in the file a value is, for the message of what is wrong with it."""

    def __init__(self, file: Path, *parts: str) -> None:
        self.file, self.parts = file, parts

    def __call__(self, *more: str) -> _At:
        return _At(self.file, *self.parts, *more)

    def error(self, reason: str) -> DatasetError:
        return DatasetError(f"{self.file}, {', '.join(self.parts)}: {reason}")


def _session(file: Path, element: Element) -> SearchSession:
    number = _attribute(_At(file, "a <session>"), element, "num")
    at = _At(file, f"session {number}")
    topic = element.find("topic")
    if topic is None:
        raise at.error("no <topic>")
    need = _text(at("topic"), topic, "desc", empty=True)
    queries = [
        _query(at(f"interaction {index + 1}"), interaction)
        for index, interaction in enumerate(element.findall("interaction"))
    ]
    numbers = [q.number for q in queries]
    if len(set(numbers)) != len(numbers):
        raise at.error("two interactions have the same number")
    for before, after in itertools.pairwise(queries):
        if after.start < before.start:
            raise at(f"interaction {after.number}").error(
                f"starttime {after.start} is before the previous interaction's {before.start}"
            )
    final, final_start = None, None
    current = element.find("currentquery")
    if current is not None:
        final = _text(at("currentquery"), current, "query", empty=True)
        final_start = (
            _seconds(at("currentquery"), current, "starttime")
            if current.get("starttime") is not None
            else None
        )
    return SearchSession(
        id=number,
        topic=_attribute(at("topic"), topic, "num"),
        need=need,
        queries=tuple(queries),
        final_query=final,
        final_start=final_start,
    )


def _query(at: _At, element: Element) -> Query:
    number = int(_number(at, _attribute(at, element, "num"), "num", whole=True))
    start = _seconds(at, element, "starttime")
    text = _text(at, element, "query", empty=True)
    results = []
    holder = element.find("results")
    for index, result in enumerate(holder.findall("result") if holder is not None else []):
        where = at(f"result {index + 1}")
        rank = _rank(where, _attribute(where, result, "rank"))
        url = _text(where, result, "url", empty=True)
        doc = result.find("clueweb12id")
        doc_id = (doc.text or "").strip() if doc is not None else ""
        if not (doc_id or url):
            raise where.error("a result needs a <url> or a <clueweb12id>")
        results.append(
            Result(
                rank=rank,
                doc_id=doc_id or url,
                url=url,
                title=_text(where, result, "title", empty=True),
                snippet=_text(where, result, "snippet", empty=True, required=False),
            )
        )
    ranks = [r.rank for r in results]
    if len(set(ranks)) != len(ranks):
        raise at.error("two results have the same rank")
    clicks = []
    clicked = element.find("clicked")
    for index, click in enumerate(clicked.findall("click") if clicked is not None else []):
        where = at(f"click {index + 1}")
        rank = _rank(where, _text(where, click, "rank"))
        begin = _seconds(where, click, "starttime")
        end = None if click.get("endtime") == "NA" else _seconds(where, click, "endtime")
        if begin < start:
            raise where.error(f"'starttime' {begin} is before its query's {start}")
        if end is not None and end < begin:
            raise where.error(f"'endtime' {end} is before 'starttime' {begin}")
        clicks.append(Click(rank=rank, start=begin, end=end))
    return Query(
        number=number, text=text, start=start, results=tuple(results), clicks=tuple(clicks)
    )


def _attribute(at: _At, element: Element, name: str) -> str:
    value = element.get(name)
    if value is None or not value.strip():
        raise at.error(f"<{element.tag}> has no {name!r} attribute")
    if len(value) > 200:
        raise at.error(f"{name!r} is longer than 200 characters")
    return value.strip()


def _text(
    at: _At, element: Element, tag: str, *, empty: bool = False, required: bool = True
) -> str:
    child = element.find(tag)
    if child is None:
        if required:
            raise at.error(f"no <{tag}>")
        return ""
    text = " ".join("".join(child.itertext()).split())  # markup inside is text too
    if not text and not empty:
        raise at.error(f"<{tag}> is empty")
    if len(text) > MAX_TEXT:
        raise at.error(f"<{tag}> is longer than {MAX_TEXT} characters")
    return text


def _rank(at: _At, value: str) -> int:
    rank = int(_number(at, value, "rank", whole=True))
    if not 1 <= rank <= MAX_RANK:
        raise at.error(f"'rank' {rank} is not between 1 and {MAX_RANK}")
    return rank


def _seconds(at: _At, element: Element, name: str) -> float:
    value = _number(at, _attribute(at, element, name), name)
    if value < 0:
        raise at.error(f"{name!r} {value} is negative")
    return value


def _number(at: _At, value: str, name: str, *, whole: bool = False) -> float:
    try:
        if "_" in value:  # float() reads "1_0" as 10; a log does not write that
            raise ValueError(value)
        number = float(value)
    except ValueError:
        raise at.error(f"{name!r} is {value[:40]!r}, not a number") from None
    if not math.isfinite(number) or abs(number) > 1e9:
        raise at.error(f"{name!r} is {value[:40]!r}, not a finite number of reasonable size")
    if whole and number != int(number):
        raise at.error(f"{name!r} is {value[:40]!r}, not a whole number")
    return number
