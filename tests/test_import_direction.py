"""Imports run one way through the package's layers (docs/ARCHITECTURE.md): every `sanavideo` import, at module
level or inside a function, goes to the same or a lower layer. A backward one fails with its file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import sanavideo

# lowest first; a module may import its own layer and those before it
LAYERS = [
    {"fsutil", "device", "video_io", "pixels", "timeline", "offload"},
    {"config"},
    {"convert"},  # checkpoint formats and key maps: given the model class, never importing it
    {"model"},
    {"sampling"},
    {"adapters"},
    {"pipeline", "options", "loading", "checks", "media"},  # the pipeline and the modules it is split into
    {"data"},
    {"train"},
    {"eval"},
    {"demo"},  # the web demo: a leaf over the pipeline
    {"cli", "__main__", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
ROOT = Path(sanavideo.__file__).parent


def _part(dotted: str) -> str:
    """`sanavideo.model.cache` -> `model`; `sanavideo` -> `__init__`."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, root: Path):
    """(line, imported module) for every absolute or relative `sanavideo` import in the file."""
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "sanavideo")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "sanavideo":
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
                yield from ((node.lineno, n) for n in names)


def backward_imports(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        own = _part(".".join(path.relative_to(root.parent).with_suffix("").parts))
        if path == root / "__init__.py":
            own = "__init__"
        for line, module in _imports(path, root):
            target = _part(module)
            if target not in RANK or own not in RANK:
                found.append(f"{path.relative_to(root)}:{line}: {own} or {target} has no layer in LAYERS")
            elif RANK[target] > RANK[own]:
                found.append(f"{path.relative_to(root)}:{line}: {own} imports {module}, a higher layer")
    return found


def test_every_import_goes_down_the_layers():
    assert backward_imports() == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    # a copy of the package with one backward import planted inside a function must be caught
    import shutil

    copy = tmp_path / "sanavideo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    target = copy / "model" / "cache.py"
    target.write_text(target.read_text() + "\n\ndef _planted():\n    from sanavideo.pipeline import load\n")
    assert backward_imports(copy) == [
        "model/cache.py:"
        + str(len(target.read_text().splitlines()))
        + ": model imports sanavideo.pipeline, a higher layer"
    ]
