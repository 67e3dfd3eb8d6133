"""The house rules on imports: viz/ stays pure (no core, torch or transformers), and no module imports itself back."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "ui", "viz", "app_pages")
VIZ_MODULES = sorted(f"viz.{path.stem}" for path in (ROOT / "viz").rglob("*.py") if path.stem != "__init__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Project modules a file imports anywhere in it (function-local imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from core import gate` imports the module core.runtime.gate, not core's names
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {name for name in found if name in known}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_the_graph_sees_the_project():
    graph = _graph()
    assert {"core.models", "core.weights_copy", "ui.caching.cache", "viz.tokens"} <= set(graph)
    assert "core.weights_copy" in graph["core.models"]  # the edge the old circle ran along


def test_no_import_circle():
    graph = _graph()
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                pytest.fail("import circle: " + " → ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_layers_import_only_downwards():
    graph = _graph()
    for name, targets in graph.items():
        if name.startswith("viz."):
            assert not {t for t in targets if not t.startswith("viz")}, f"{name} imports {targets}"
        if name.startswith("core"):
            assert not {t for t in targets if t.split(".")[0] in ("ui", "viz", "app_pages")}, f"{name}: {targets}"


def _streamlit_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return [name for name in names if name.split(".")[0] == "streamlit"]


def test_core_never_imports_streamlit():
    offenders = {name: found for name, path in _modules().items() if name.startswith("core")
                 if (found := _streamlit_imports(path))}
    assert not offenders, f"core/ must stay importable without Streamlit: {offenders}"


def test_importing_all_of_core_loads_no_streamlit():
    modules = sorted(name for name in _modules() if name.startswith("core"))
    assert len(modules) > 30 and "core.runtime.hooks" in modules
    probe = f"import sys; [__import__(m) for m in {modules!r}]; print('streamlit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_the_streamlit_check_would_fail():
    assert _streamlit_imports(ROOT / "ui" / "caching" / "cache.py") == ["streamlit"]


@pytest.mark.parametrize("module", VIZ_MODULES)
def test_viz_module_imports_no_model_code(module):
    # A fresh interpreter: in this one torch and transformers are already loaded by the fixtures.
    probe = (
        f"import sys; import {module}; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'core', 'streamlit')); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", f"{module} pulls in {result.stdout.strip()[:300]}"


def test_the_probe_would_see_torch():
    # The check above must be able to fail: a module that does import torch shows up.
    probe = "import sys; import core.runtime.arrays; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "True", result.stderr[-2000:]
