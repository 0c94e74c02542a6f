"""The package's layers: the core is pure, the store knows no HTTP, flows know no HTTP or CLI.

    core/   imports nothing from store, flows or web, and no I/O framework
    store/  imports the core and asyncpg; never flows or web
    flows/  imports the core and the store; never web, litestar or click
    web/    imports anything below it; never the CLI

Read from the source with `ast`, so that an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "survey"

# What each layer may not import: modules of the package by prefix, and third-party packages.
FORBIDDEN = {
    "core": ("survey.store", "survey.flows", "survey.web", "survey.cli", "litestar", "asyncpg",
             "jinja2", "click", "uvicorn", "redis", "prometheus_client"),
    "store": ("survey.flows", "survey.web", "survey.cli", "litestar", "jinja2", "click"),
    "flows": ("survey.web", "survey.cli", "litestar", "jinja2", "click"),
    "web": ("survey.cli", "click"),
}  # fmt: skip


def imports(path: Path) -> set[str]:
    """Every module a file imports, as dotted names (`from survey.core import x` gives both
    `survey.core` and `survey.core.x`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def layer_files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_what_lies_below_it(layer: str) -> None:
    files = layer_files(layer)
    assert files, f"survey/{layer}/ holds no modules"
    broken = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in files
        for name in sorted(imports(path))
        if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN[layer])
    ]
    assert not broken, "\n".join(broken)


def test_the_shared_top_level_modules_import_no_layer_but_the_store_and_core() -> None:
    """config, errors and logs sit under every layer: they import none of them."""
    for name in ("config", "errors", "logs"):
        bad = [
            i
            for i in imports(PACKAGE / f"{name}.py")
            if i.startswith(("survey.core", "survey.store", "survey.flows", "survey.web"))
        ]
        assert not bad, f"survey/{name}.py imports {bad}"


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from survey.web import app\n    import asyncpg\n")
    assert {"survey.web", "survey.web.app", "asyncpg"} <= imports(module)


def test_every_module_of_the_package_is_in_a_layer_or_named_here() -> None:
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top == {"__init__", "__main__", "app", "cli", "config", "errors", "logs", "metricfiles"}
    layers = {
        path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()
    }
    assert layers == set(FORBIDDEN)


def test_tests_mirror_the_package() -> None:
    """A test folder per layer, named as the layer."""
    tests = Path(__file__).resolve().parent
    for layer in FORBIDDEN:
        assert (tests / layer).is_dir(), f"tests/{layer}/ is missing"


def test_the_readme_layout_draws_every_module_in_its_folder() -> None:
    readme = (PACKAGE.parent / "README.md").read_text()
    tree = readme[readme.index("## Layout") :].split("```")[1]
    folder = ""
    drawn: set[str] = set()
    for line in tree.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.endswith("/") and line.startswith("  ") and not line.startswith("    "):
            folder = name
        elif name.endswith(".py"):
            drawn.add(f"{folder if line.startswith('    ') else ''}{name}")
    modules = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert modules == drawn, (sorted(modules - drawn), sorted(drawn - modules))
