"""The package layout DESIGN.md promises: the emulator, the ops CLI, the runtime and the CDK app
depend on each other in one direction only."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> top-level packages it must never import
FORBIDDEN = {
    "lambda_src/websocket_service": {"aws_cdk", "cdk_app", "local_gateway", "wsctl"},
    "local_gateway": {"wsctl", "cdk_app", "aws_cdk"},
    "wsctl": {"aws_cdk"},
    "cdk_app": {"websocket_service", "local_gateway", "wsctl"},
}


def _imports(path: Path) -> set[str]:
    """Every module name ``path`` imports (absolute, or ``.x`` for relative imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_against_the_layout(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert offenders == []


def test_the_ops_cli_is_not_inside_the_emulator() -> None:
    for module in ("cli", "smoke", "cost", "argtypes"):
        assert not (ROOT / "local_gateway" / f"{module}.py").exists()
        assert (ROOT / "wsctl" / f"{module}.py").exists()


def test_the_emulator_has_no_import_cycle() -> None:
    """Module -> relative imports inside local_gateway form a DAG (console.py used to import
    server.py, which imports console.py)."""
    package = ROOT / "local_gateway"
    graph = {
        path.stem: {name.lstrip(".").split(".")[0] for name in _imports(path) if name.startswith(".") and name.lstrip(".")}
        for path in package.glob("*.py")
    }
    # `from . import responses` has module "" and names the module in the alias; count those too.
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level and not node.module:
                graph[path.stem].update(alias.name for alias in node.names)
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in visiting, f"import cycle: {' -> '.join(trail + (module,))}"
        if module in done or module not in graph:
            return
        visiting.add(module)
        for dependency in sorted(graph[module]):
            visit(dependency, trail + (module,))
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
