"""The layout's promises: arrows point down, and nothing test-only ships.

- The import check (``lint-imports``, the contracts in pyproject.toml, run by
  ``make lint``) passes on the tree as it is, names every package of the
  project in its layers, and fails, naming the import, when a copy of the tree
  gets an import that points up, sideways within a layer, from
  firmware_config to any other package of the project, or from the kiosk or
  the door controller straight to the wire protocol.
- No two modules import each other, directly or round a loop (a lazy import
  inside a function counts too), but for one loop kept on purpose:
  ``Store.open``, a convenience on the store's interface, opens the store
  through its package (``sync.central.store``), which imports the interface.
- The wheel holds the five packages and their data, and nothing from tests/,
  bench/ or docs/, no harness and no test CA.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hallvakt", "kiosk", "door_controller", "sync", "firmware_config")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the packages under ``tree`` (its pyproject's contracts)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        timeout=120,
        check=False,
    )


def contracts() -> list[dict[str, object]]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[dict[str, object]] = doc["tool"]["importlinter"]["contracts"]
    return found


def test_the_tree_keeps_the_arrows() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_every_package_has_its_place_in_the_layers() -> None:
    """A new package (or a module straight under sync/) must be given a layer."""
    [layers] = [c["layers"] for c in contracts() if c["type"] == "layers"]
    assert isinstance(layers, list)
    placed = {name.strip() for layer in layers for name in str(layer).split("|")}
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert tops == set(PACKAGES)
    subs = {f"sync.{p.stem}" for p in (ROOT / "sync").iterdir() if p.name != "__init__.py"}
    subs = {s for s in subs if not s.endswith("__pycache__")}
    assert placed == (set(PACKAGES) - {"sync"}) | subs


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the packages and pyproject.toml, to break on purpose."""
    root = tmp_path_factory.mktemp("tree")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root)
    yield root


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # up: the node database must not know the command
        ("sync/replica/heartbeat.py", "import hallvakt.status", "sync.replica is not allowed"),
        # up across two layers: the protocol must not know the node database
        ("sync/protocol/codes.py", "import sync.replica.store", "sync.protocol is not allowed"),
        # sideways in one layer: central and the node's link share nothing but lower layers
        ("sync/central/feed.py", "import sync.link.backoff", "sync.central is not allowed"),
        ("kiosk/speech.py", "import door_controller.pin_guard", "kiosk is not allowed"),
        # firmware_config uses no other package, not even the lowest
        ("firmware_config/vocabulary.py", "import sync.protocol.timeutil", "firmware_config"),
        # nothing imports the command
        ("door_controller/decision.py", "from hallvakt import cli", "door_controller is not"),
        # the kiosk and the door use the node database's API, not the wire protocol
        ("kiosk/today.py", "import sync.protocol.timeutil", "kiosk is not allowed"),
    ],
)
def test_the_check_fails_on_an_arrow_that_points_the_wrong_way(
    tree: Path, module: str, line: str, broken: str
) -> None:
    path = tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}  # a wrong arrow, on purpose\n", encoding="utf-8")
    try:
        done = lint_imports(tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert done.returncode == 1, done.stdout + done.stderr
    assert broken in done.stdout and "BROKEN" in done.stdout, done.stdout
    target = line.split()[1]
    assert target in done.stdout, done.stdout  # the report names the import


def test_the_copy_passes_again_once_mended(tree: Path) -> None:
    """The failures above are the wrong imports, not the copy."""
    done = lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr


def group(module: str) -> str:
    """The package of the layers a module belongs to (sync's sub-packages apart)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "sync" else parts[0]


def imports_by_package() -> dict[str, set[str]]:
    """Package -> the project's packages its modules import (from their ``import`` lines)."""
    out: dict[str, set[str]] = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            module = ".".join(rel.parts).removesuffix(".__init__")
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    if node.level:
                        targets = [".".join([*base, *([node.module] if node.module else [])])]
                    else:
                        targets = [node.module or ""]
                else:
                    continue
                for target in targets:
                    if target.split(".")[0] in PACKAGES and group(target) != group(module):
                        out.setdefault(group(module), set()).add(group(target))
    return out


def test_the_readme_draws_the_imports_as_they_are() -> None:
    """README.md "Layout" lists each package's imports; they are the code's, no more."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("hallvakt        →") :].split("```")[0]
    drawn = {}
    for line in block.strip().splitlines():
        name, _, targets = line.partition("→")
        drawn[name.strip()] = {t.strip() for t in targets.split(",") if "(" not in t}
    actual = imports_by_package()
    assert {k: v for k, v in drawn.items() if v} == actual


# --- the wheel -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel`` builds from a copy of the tracked files."""
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        rel = Path(os.fsdecode(name))
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    [built] = out.glob("hallvakt-*.whl")
    return built


def test_the_wheel_holds_the_packages_and_nothing_test_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("hallvakt-")}
    assert tops == set(PACKAGES), tops
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]
    test_only = ("testing_e2e", "testca", "tests/support", "firmware_config/testing.py")
    assert not [n for n in names if any(t in n for t in test_only)], names
    # what the parts need at run time is there: the demo's broker, kiosk catalogues,
    # the example configs, the licence
    for needed in (
        "hallvakt/demo/broker/process.py",
        "hallvakt/demo/data/__init__.py",
        "kiosk/locale/sv/LC_MESSAGES/kiosk.po",
        "firmware_config/examples/arena.toml",
    ):
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names


# The one loop kept on purpose (module docstring).
KNOWN_LOOPS = [
    {
        "sync.central.store",
        "sync.central.store.base",
        "sync.central.store.postgres",
        "sync.central.store.schema",
        "sync.central.store.sqlite",
    }
]


def import_loops(graph: grimp.ImportGraph) -> list[set[str]]:
    """The groups of modules that import each other round a loop: a module's
    group is what it imports, directly or not, and is imported by (grimp)."""
    loops: list[set[str]] = []
    seen: set[str] = set()
    for m in sorted(graph.modules):
        if m in seen:
            continue
        group = graph.find_upstream_modules(m) & graph.find_downstream_modules(m)
        if group:
            loops.append(group | {m})
            seen |= group
    return loops


def test_no_module_loops_but_the_one_kept() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    assert sorted(map(sorted, import_loops(graph))) == sorted(map(sorted, KNOWN_LOOPS))


def test_the_loop_finder_finds_a_loop() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]:
        graph.add_import(importer=importer, imported=imported)
    graph.add_module("e")
    assert import_loops(graph) == [{"a", "b", "c"}]
    graph.remove_import(importer="c", imported="a")
    assert import_loops(graph) == []
