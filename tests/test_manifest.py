"""The manifest records where a run came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.core.manifest import git_revision


def test_the_manifest_names_the_checkout_it_ran_from():
    if not (Path(__file__).parents[1] / ".git").exists():
        pytest.skip("not a git checkout")
    revision = git_revision()
    assert revision is not None and len(revision.removesuffix("+dirty")) == 40
