"""A search engine over HTTP: the protocol, its client and the reference service."""
