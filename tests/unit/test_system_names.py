"""A downstream system is named only in its own module and in the SYSTEMS registry.

Every module of outbox/, ops/ and actors/ — except actors/<system>.py and the registry,
actors/systems.py — is tokenized, and its code is searched for the names of the product's
systems: in identifiers (split at underscores and camel-case humps, so `erp_url` and
`ErpClient` count) and in string literals (f-strings included; any case, as a word, so
"ERP" and "/erp" and "wms_key" count). Comments are not code. Docstrings — a string
that is a whole statement at the top of a module, class or function — are read as
comments too: they explain, and the prose of a worker's `--help` may well say "the ERP";
what must not name a system is anything the program computes with.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from actors.systems import SYSTEMS

ROOT = Path(__file__).parents[2]
SCANNED = ("outbox", "ops", "actors")
HOMES = {Path("actors/systems.py"), *(Path(f"actors/{name}.py") for name in SYSTEMS)}
NAMES = tuple(SYSTEMS)
WORD = re.compile(rf"(?<![a-z])({'|'.join(NAMES)})(?![a-z])")
HUMPS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# A string literal's text: one token up to Python 3.11; an f-string's parts from 3.12 on.
STRING_TOKENS = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def docstring_lines(source: str) -> set[int]:
    """The first lines of the module's, classes' and functions' docstrings."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    lines.add(body[0].lineno)
    return lines


def names_in_code(source: str) -> list[tuple[int, str]]:
    """(line, token) of every identifier or string literal of `source` naming a system."""
    docstrings = docstring_lines(source)
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME:
            words = [w.lower() for part in token.string.split("_") for w in HUMPS.findall(part)]
            if any(w in NAMES for w in words):
                found.append((token.start[0], token.string))
        elif token.type in STRING_TOKENS and token.start[0] not in docstrings:
            if WORD.search(token.string.lower()):
                found.append((token.start[0], token.string))
    return found


def scanned_modules() -> list[Path]:
    paths = sorted(p.relative_to(ROOT) for d in SCANNED for p in (ROOT / d).rglob("*.py"))
    return [p for p in paths if p not in HOMES]


def test_the_product_has_systems_to_look_for_and_modules_to_look_in() -> None:
    assert NAMES == ("erp", "wms", "crm")
    modules = scanned_modules()
    assert Path("outbox/routing.py") in modules
    assert Path("actors/clients.py") in modules
    assert Path("ops/demo.py") in modules
    assert Path("actors/erp.py") not in modules


@pytest.mark.parametrize("module", scanned_modules(), ids=str)
def test_no_module_but_a_systems_own_and_the_registry_names_a_system(module: Path) -> None:
    assert names_in_code((ROOT / module).read_text()) == []


@pytest.mark.parametrize(
    "line",
    [
        'QUEUE = "erp"',
        "url = settings.wms_url",
        "client = CrmClient(url)",
        'log.info(f"sent to the ERP at {url}")',
        "path = '/crm/contacts'",
        'options = {"wms_key": key}',
        'def f():\n    x = 1\n    """not a docstring: erp"""',
    ],
)
def test_a_system_named_in_code_is_found(line: str) -> None:
    assert names_in_code(line + "\n")


@pytest.mark.parametrize(
    "line",
    [
        "# the ERP invoices each shipment",
        '"""The ERP, the WMS and the CRM: named in a docstring."""',
        'def f():\n    """Deliver to the WMS."""\n    return 1',
        'terp = "enterprise"',  # a longer word that contains a name is not the name
        "interpret = 1",
    ],
)
def test_comments_docstrings_and_longer_words_are_not_names(line: str) -> None:
    assert names_in_code(line + "\n") == []
