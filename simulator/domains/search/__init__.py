"""Search users: people with an information need, a search engine under test, sessions of queries.

`interfaces` says what an engine must offer; `collection` is the documents it
ranks (built from the results real sessions were shown); `engines/` holds the
built-ins by name; `model` is the searcher, fitted on real sessions.
"""
