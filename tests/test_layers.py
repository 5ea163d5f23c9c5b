"""Data flows one way: no module imports a layer above its own (so there is no import circle).

Layers, bottom to top; a module may import its own unit and any lower layer.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sharedspace"
LAYERS = [
    {"errors"},
    {"untrusted", "files", "layout"},
    {"tables"},
    {"decoding", "parts", "collectives", "precision"},
    {"registry", "config", "representation", "plugins"},
    {"overrides"},
    {"layers"},
    {"data"},
    {"modalities", "spaces", "outputs"},
    {"tasks"},
    {"model"},
    {"train"},
    {"resolve"},
    {"analysis"},
    {"runs", "discovery"},
    {"features"},
    {"experiments"},
    {"catalog"},
    {"cli"},
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """``sharedspace.train.trainer`` → ``train``; ``sharedspace.model`` → ``model``."""
    return module.split(".")[1]


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sharedspace.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sharedspace."):
            found.add(node.module)
    return found


def test_every_unit_has_a_layer():
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    units -= {"__init__", "__pycache__", "configs"}  # configs: package data, no code
    assert units <= set(LAYER), f"add {sorted(units - set(LAYER))} to LAYERS"


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "sharedspace." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if module.endswith(".__init__"):
            module = module.removesuffix(".__init__")
        if module == "sharedspace":
            continue
        mine = unit_of(module)
        for imported in imports(path):
            theirs = unit_of(imported)
            if theirs != mine and LAYER[theirs] >= LAYER[mine]:
                upward.append(f"{module} imports {imported}")
    assert not upward, "\n".join(upward)
