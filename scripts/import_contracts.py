"""An import-linter contract type the built-in ones lack: an allow-list.

`forbidden` names what may not be imported, so a package nobody thought of (scikit-learn, a
sibling of the engine's caller) slips through. `allowed_imports` names what may be: every module
under `source_modules` may import only modules inside the source packages themselves, the
`allowed_modules` (an external package counts as its top-level name) and the standard library.
"""

from __future__ import annotations

import sys

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class AllowedImportsContract(Contract):
    type_name = "allowed_imports"

    source_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        sources = [str(m) for m in self.source_modules]  # type: ignore[attr-defined]
        allowed = [str(m) for m in self.allowed_modules]  # type: ignore[attr-defined]
        inside = set(sources) | {d for s in sources for d in graph.find_descendants(s)}
        illegal = sorted(
            (importer, imported)
            for importer in inside
            for imported in graph.find_modules_directly_imported_by(importer)
            if not _within(imported, sources + allowed)
        )
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported in check.metadata["illegal"]:
            output.print_error(f"{importer} imports {imported}, which is not allowed here.")
            output.new_line()


def _within(module: str, packages: list[str]) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        return True
    return any(module == p or module.startswith(p + ".") for p in packages)
