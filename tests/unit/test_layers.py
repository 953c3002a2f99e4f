"""The layers, read from the source: imports go handlers -> infra -> core, core does no I/O of
its own (every outside effect goes through core/ports/), and each room of core says what it
holds."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Libraries that reach the outside world: an adapter's business, in infra/.
IO_LIBRARIES = frozenset(
    {
        "aioboto3",
        "aiobotocore",
        "aiohttp",
        "boto3",
        "botocore",
        "httpx",
        "moto",
        "requests",
        "shutil",
        "socket",
        "subprocess",
        "tempfile",
        "urllib3",
    }
)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a module."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module.split(".")[0]


def environment_reads(path: Path) -> Iterator[int]:
    """Lines reading the process environment (``os.environ``, ``os.getenv``)."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            yield node.lineno


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_layers_exist() -> None:
    # a renamed folder would leave every check below passing over nothing
    assert len(modules("core")) > 20
    assert len(modules("infra")) > 10
    assert len(modules("handlers")) > 10


@pytest.mark.parametrize("package", ["core", "infra"])
def test_a_layer_imports_nothing_above_it(package: str) -> None:
    above = {"core": {"infra", "handlers"}, "infra": {"handlers"}}[package]
    wrong = [
        f"{where(path, line)} imports {name}"
        for path in modules(package)
        for line, name in imported(path)
        if name in above
    ]
    assert wrong == []


def test_core_reaches_the_outside_only_through_its_ports() -> None:
    wrong = [
        f"{where(path, line)} imports {name}"
        for path in modules("core")
        for line, name in imported(path)
        if name in IO_LIBRARIES
    ]
    wrong += [
        f"{where(path, line)} reads the environment"
        for path in modules("core")
        for line in environment_reads(path)
    ]
    assert wrong == []


def test_every_room_of_core_says_what_it_holds() -> None:
    rooms = [p for p in sorted((ROOT / "core").iterdir()) if p.is_dir() and p.name != "__pycache__"]
    silent = [
        str(room.relative_to(ROOT))
        for room in rooms
        if not (room / "__init__.py").is_file()
        or not ast.get_docstring(ast.parse((room / "__init__.py").read_text("utf-8")))
    ]
    assert silent == []
