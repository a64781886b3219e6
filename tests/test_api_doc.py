"""docs/api.md describes exactly the routes the running service has: checked against its
/openapi.json, so the document cannot drift from the code."""

from __future__ import annotations

import re

import httpx

from tests.stack import ROOT, Stack

DOC = ROOT / "docs" / "api.md"
HEADING = re.compile(r"^### `(GET|POST|PUT|PATCH|DELETE) (/\S*)`$", re.M)


def sections() -> dict[tuple[str, str], str]:
    """Each route's section of docs/api.md: (method, path) -> its text."""
    text = DOC.read_text()
    found = list(HEADING.finditer(text))
    result = {}
    for match, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following else len(text)
        result[(match.group(1), match.group(2))] = text[match.end() : end]
    return result


def test_every_route_is_documented_and_every_documented_route_exists(
    embedded_stack: Stack,
) -> None:
    spec = httpx.get(embedded_stack.url + "/openapi.json", timeout=60).json()
    served = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    documented = set(sections())
    assert served - documented == set(), "routes missing from docs/api.md"
    assert documented - served == set(), "docs/api.md names routes the service does not have"


def test_each_section_gives_the_success_status_and_the_parameters(embedded_stack: Stack) -> None:
    spec = httpx.get(embedded_stack.url + "/openapi.json", timeout=60).json()
    text = sections()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            section = text[(method.upper(), path)]
            success = min(code for code in operation["responses"] if code.startswith("2"))
            assert re.search(rf"\b{success}\b", section), (method, path, success)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    continue
                name = parameter["name"]
                assert name.lower() in section.lower(), (method, path, name)


def test_the_doc_links_nothing_outside_the_repository() -> None:
    text = DOC.read_text()
    assert not re.search(r"\]\((?:\.\./|/|https?://)", text)
