"""docs/events.md is generated: it must match the schemas in the code."""

from __future__ import annotations

from pathlib import Path

from ops.eventdocs import render

DOC = Path(__file__).parents[2] / "docs" / "events.md"


def test_the_published_event_schemas_match_the_code() -> None:
    assert DOC.read_text() == render(), "docs/events.md is stale: run `make docs`"
