"""The layering of docs/architecture.md, enforced over the import graph (an AST walk, no import needed).

Every module under src/monitoring_layer, exporters/ and instrumentors/ gets a layer
from the table below (by its dotted name's longest matching prefix); an import
(at module level or deferred inside a function) may only go to the same layer or
a lower one. Facades and exporters never import each other. No module but the
top layer imports the package face ``monitoring_layer`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"monitoring_layer": ROOT / "src" / "monitoring_layer",
           "monitoring_layer.exporters": ROOT / "exporters",
           "monitoring_layer.instrumentors": ROOT / "instrumentors"}

HELPERS, READINGS, FACADES, ABOVE_FACADES, ENGINES, SERVER, PIPELINE, TOP = range(8)
NAMES = ["internal helpers", "readings", "facades and exporters", "built on the facades", "engines",
         "dashboard and server", "pipeline", "top"]
#: dotted prefix -> layer (longest prefix wins). Modules that do not exist yet
#: (health, alerts, dashboard) are declared so their code is checked when merged.
LAYERS: dict[str, int] = {
    "monitoring_layer._selfmon": HELPERS, "monitoring_layer._lifecycle": HELPERS,
    "monitoring_layer._http": HELPERS, "monitoring_layer.config": HELPERS,
    "monitoring_layer.errors": HELPERS, "monitoring_layer._compat": HELPERS,
    "monitoring_layer._encode": HELPERS, "monitoring_layer._stats": HELPERS, "monitoring_layer._spanrec": HELPERS,
    "monitoring_layer._process_wide": HELPERS, "monitoring_layer._version": HELPERS,
    "monitoring_layer._sdk_drops": HELPERS, "monitoring_layer.types": HELPERS,
    "monitoring_layer._safe": HELPERS, "monitoring_layer._inbox": HELPERS,
    "monitoring_layer._scrub": HELPERS, "monitoring_layer._status": HELPERS,
    "monitoring_layer._units": HELPERS, "monitoring_layer._gcpace": HELPERS,
    "monitoring_layer.readings": READINGS, "monitoring_layer._readings_export": READINGS,
    "monitoring_layer._metric_entries": READINGS,
    "monitoring_layer.metrics": FACADES, "monitoring_layer.logging": FACADES,
    "monitoring_layer.tracing": FACADES, "monitoring_layer.exporters": FACADES,
    "monitoring_layer.utils": ABOVE_FACADES, "monitoring_layer.integration": ABOVE_FACADES,
    "monitoring_layer.instrumentors": ABOVE_FACADES,
    "monitoring_layer.health": ENGINES, "monitoring_layer.alerts": ENGINES,
    "monitoring_layer.dashboard": SERVER, "monitoring_layer.server": SERVER,
    "monitoring_layer.pipeline": PIPELINE,
    "monitoring_layer": TOP, "monitoring_layer._defaults": TOP, "monitoring_layer.testing": TOP,
    "monitoring_layer.cli": TOP, "monitoring_layer.commands": TOP, "monitoring_layer.__main__": TOP,
    "monitoring_layer.selftest": TOP, "monitoring_layer.bench": TOP, "monitoring_layer.otel_instrument": TOP,
    "monitoring_layer.demo": TOP,
}
#: the facades and exporters, whose private modules (``metrics._names``, ``exporters._store``) no module of
#: a higher layer may import: they use the package's face (``monitoring_layer.metrics``)
FACADE_PACKAGES = ("monitoring_layer.metrics", "monitoring_layer.logging", "monitoring_layer.tracing",
                   "monitoring_layer.exporters")
#: sibling groups in one layer that must not import each other
APART = [("monitoring_layer.metrics", "monitoring_layer.logging", "monitoring_layer.tracing"),
         ("monitoring_layer.exporters",)]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def layer_of(module: str) -> int:
    # "monitoring_layer" names the package face only: a new module must get a layer of its own.
    best = max((p for p in LAYERS if module == p or (p != "monitoring_layer" and module.startswith(p + "."))),
               key=len, default=None)
    if best is None:
        raise AssertionError(f"{module} has no layer: add it to LAYERS in tests/test_layering.py "
                             "and to docs/architecture.md")
    return LAYERS[best]


def _group(module: str) -> str | None:
    for groups in APART:
        for prefix in groups:
            if module == prefix or module.startswith(prefix + "."):
                return prefix
    return None


def _imports(module: str, path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module, imports the package face's names) of every import of ours."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "monitoring_layer":
                    found.append((node.lineno, "monitoring_layer", True))
                elif alias.name.startswith("monitoring_layer."):
                    found.append((node.lineno, alias.name, False))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "monitoring_layer" and not target.startswith("monitoring_layer."):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES or f"{sub}" in FOLDERS:
                    found.append((node.lineno, sub, False))
                else:
                    found.append((node.lineno, target, target == "monitoring_layer"))
    return found


def _facade_private(module: str) -> bool:
    """True for a private module of a facade package (``monitoring_layer.metrics._names``)."""
    for package in FACADE_PACKAGES:
        if module.startswith(package + "."):
            return any(part.startswith("_") for part in module[len(package) + 1:].split("."))
    return False


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_goes_upward() -> None:
    problems = []
    for module, path in sorted(MODULES.items()):
        mine = layer_of(module)
        for line, target, face in _imports(module, path):
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"
            if face and mine != TOP:
                problems.append(f"{where}: {module} imports the package face monitoring_layer")
                continue
            theirs = layer_of(target)
            if theirs > mine:
                problems.append(f"{where}: {module} ({NAMES[mine]}) imports {target} ({NAMES[theirs]})")
            elif theirs == mine and _group(module) != _group(target) and None not in (_group(module), _group(target)):
                problems.append(f"{where}: {module} and {target} must not import each other")
            elif mine > FACADES and _facade_private(target):
                problems.append(f"{where}: {module} ({NAMES[mine]}) imports {target}, a facade's private "
                                "module: import it from the package's face, or move what both need to an "
                                "internal helper")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source, expected", [
    ("import monitoring_layer\n", "package face"),
    ("from monitoring_layer.pipeline import get_pipeline\n", "imports monitoring_layer.pipeline"),
])
def test_the_check_catches_violations(tmp_path: Path, source: str, expected: str, monkeypatch) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, "monitoring_layer.metrics._fake", fake)
    with pytest.raises(AssertionError, match=expected):
        test_no_import_goes_upward()


@pytest.mark.parametrize("source", [
    "from monitoring_layer.metrics._names import check_name\n",
    "from monitoring_layer.metrics import _names\n",
    "import monitoring_layer.logging._levels\n",
    "from monitoring_layer.exporters._store import JsonFileStore\n",
])
@pytest.mark.parametrize("importer", ["monitoring_layer.alerts._fake", "monitoring_layer.dashboard._fake",
                                      "monitoring_layer._defaults_fake", "monitoring_layer.utils._fake"])
def test_a_higher_layer_importing_a_facades_private_module_is_caught(
        tmp_path: Path, source: str, importer: str, monkeypatch) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, importer, fake)
    monkeypatch.setitem(LAYERS, "monitoring_layer._defaults_fake", TOP)
    with pytest.raises(AssertionError, match="a facade's private"):
        test_no_import_goes_upward()


def test_a_facade_may_import_its_own_private_modules(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text("from monitoring_layer.metrics._names import check_name\n")
    monkeypatch.setitem(MODULES, "monitoring_layer.metrics._fake", fake)
    test_no_import_goes_upward()


def test_an_engine_may_import_a_facades_public_face(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text("from monitoring_layer.metrics import MetricsCollector\n")
    monkeypatch.setitem(MODULES, "monitoring_layer.alerts._fake", fake)
    test_no_import_goes_upward()
