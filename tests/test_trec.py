"""The TREC Session Track reader: the real file, round trips, and damaged files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personas.datasets.errors import DatasetError
from personas.datasets.trec import (
    Click,
    Query,
    Result,
    SearchSession,
    load_trec_sessions,
    terms,
    write_trec_sessions,
)

DATA = os.environ.get("SIMFOLK_DATA")
needs_data = pytest.mark.skipif(not DATA, reason="SIMFOLK_DATA is not set")


@needs_data
def test_the_2013_sessions_read_as_the_track_describes_them():
    log = load_trec_sessions("trec-session-2013")  # a name under SIMFOLK_DATA
    assert len(log.sessions) == 133
    assert len({s.topic for s in log.sessions}) == 61
    queries = [q for s in log.sessions for q in s.queries]
    assert len(queries) == 401
    assert sum(len(q.clicks) for q in queries) == 586
    assert all(q.text for q in queries)
    # 14 clicks have no logged end ("NA"): no dwell, but the click is kept.
    assert sum(c.end is None for q in queries for c in q.clicks) == 14
    assert all(c.dwell is None or c.dwell >= 0 for q in queries for c in q.clicks)
    assert all([r.rank for r in q.results] == sorted(r.rank for r in q.results) for q in queries)
    first = log.sessions[0]
    assert first.queries[0].text == "US civil war causes"
    assert first.queries[0].clicks[0].rank == 1
    assert first.final_query == "US civil war economic causes"  # whitespace folded
    assert len(log.documents()) == 2739


def test_terms_are_lower_cased_words():
    assert terms("US civil-war  Causes!") == ["us", "civil", "war", "causes"]
    assert terms("") == []


texts = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
    .map(lambda t: " ".join(t.split()))
    .filter(bool)
)
seconds = st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 3))


@st.composite
def sessions(draw: st.DrawFn) -> list[SearchSession]:
    out = []
    for number in range(draw(st.integers(1, 4))):
        queries, clock = [], 0.0
        for index in range(draw(st.integers(0, 3))):
            clock += draw(seconds)
            n = draw(st.integers(0, 4))
            results = tuple(
                Result(rank=r + 1, doc_id=f"doc-{r}", url=draw(st.sampled_from(["", f"http://x/{r}"])),
                       title=draw(texts), snippet=draw(texts))
                for r in range(n)
            )  # fmt: skip
            clicks = tuple(
                Click(rank=draw(st.integers(1, 50)), start=s, end=draw(st.none() | seconds))
                for s in draw(st.lists(seconds, max_size=3))
            )
            clicks = tuple(
                c for c in clicks if c.start >= clock and (c.end is None or c.end >= c.start)
            )
            queries.append(Query(index + 1, draw(texts), clock, results, clicks))
        final = draw(st.none() | texts)
        out.append(
            SearchSession(
                id=str(number + 1),
                topic=str(draw(st.integers(1, 9))),
                need=draw(st.just("") | texts),
                queries=tuple(queries),
                final_query=final,
                final_start=None if final is None else draw(st.none() | st.just(clock)),
            )
        )
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_sessions_written_read_back_the_same(written: list[SearchSession]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        back = load_trec_sessions(write_trec_sessions(written, Path(tmp) / "s.xml"))
    assert list(back.sessions) == written


@settings(max_examples=150, deadline=None)
@given(sessions(), st.data())
def test_a_damaged_file_loads_or_says_where_it_is_wrong(
    written: list[SearchSession], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_trec_sessions(written, Path(tmp) / "s.xml")
        raw = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(raw) - 1))
            action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
            if action == "flip":
                raw[at] = data.draw(st.integers(0, 255))
            elif action == "cut":
                del raw[at : at + data.draw(st.integers(1, 40))]
            else:
                raw[at:at] = data.draw(
                    st.sampled_from([b"<", b'"', b"NA", b"-1", b"&amp;", b"\xff"])
                )
            if not raw:
                raw = bytearray(b" ")
        path.write_bytes(bytes(raw))
        try:
            load_trec_sessions(path)
        except DatasetError as exc:
            assert str(path) in str(exc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("<rank>1</rank>", "<rank>one</rank>"),
            "session 1, interaction 1, click 1: 'rank' is 'one'",
        ),
        (('starttime="5.0"', 'starttime="-5.0"'), "interaction 1: 'starttime' -5.0 is negative"),
        (("<desc>", "<dsc>"), "session 1, topic: no <desc>"),
        (('<session num="1"', "<session"), "a <session>: <session> has no 'num'"),
        (("<sessiontrack2013>", "<sessions>"), "the root element is <sessions>"),
        (('starttime="6.0"', 'starttime="4.0"'), "click 1: 'starttime' 4.0 is before its query"),
        (('interaction num="1"', 'interaction num="1_0"'), "'num' is '1_0', not a number"),
    ],
)
def test_a_bad_field_is_named_with_its_session_and_interaction(tmp_path, change, message):
    one = SearchSession(
        "1", "1", "find things", (Query(1, "things", 5.0, (), (Click(1, 6.0, 7.0),)),)
    )
    path = write_trec_sessions([one], tmp_path / "s.xml")
    text = path.read_text().replace(*change)
    if change[0] == "<sessiontrack2013>":
        text = text.replace("</sessiontrack2013>", "</sessions>")
    if change[0] == "<desc>":
        text = text.replace("</desc>", "</dsc>")
    path.write_text(text)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")) as failed:
        load_trec_sessions(path)
    assert str(path) in str(failed.value)


def test_entities_are_refused_not_expanded(tmp_path):
    path = tmp_path / "bomb.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<sessiontrack2013>&b;</sessiontrack2013>"
    )
    with pytest.raises(DatasetError, match="declares a DTD"):
        load_trec_sessions(path)
    path.write_text('<!DOCTYPE sessiontrack2013 SYSTEM "http://x/t.dtd"><sessiontrack2013/>')
    with pytest.raises(DatasetError, match="declares a DTD"):
        load_trec_sessions(path)


def test_a_missing_file_or_a_folder_without_one_says_so(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_trec_sessions(tmp_path / "nope.xml")
    with pytest.raises(DatasetError, match="expected one TREC session"):
        load_trec_sessions(tmp_path)


def test_markup_inside_a_field_is_text_and_interaction_numbers_are_unique(tmp_path):
    two = SearchSession(
        "1", "1", "find things", (Query(1, "x", 1.0, (), ()), Query(2, "y", 2.0, (), ()))
    )
    path = write_trec_sessions([two], tmp_path / "s.xml")
    text = path.read_text()
    path.write_text(text.replace("<query>x</query>", "<query>x<b>y</b>z</query>"))
    assert load_trec_sessions(path).sessions[0].queries[0].text == "xyz"
    path.write_text(text.replace('interaction num="2"', 'interaction num="1"'))
    with pytest.raises(DatasetError, match="two interactions have the same number"):
        load_trec_sessions(path)
