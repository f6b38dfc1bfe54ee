"""The package layout of docs/architecture.md, enforced: module sizes, no import
cycles, imports that flow one way between the layers, check kinds that never
import each other, and lemma files that import proofcheck only through its API."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "proofcheck"
#: layers in import order: a module may import its own layer and the ones before it
LAYERS = ("core", "setting", "lang", "engine", "checks", "surface")
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if module in ("proofcheck.api", "proofcheck.__main__"):
        return "api"
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "core"


def imports(path: Path) -> set[str]:
    """Every proofcheck module ``path`` imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("proofcheck"):
            assert node.level == 0, f"{path}: relative import (use absolute proofcheck.* imports)"
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if (ROOT / Path(*sub.split("."))).with_suffix(".py").exists()
                        or (ROOT / Path(*sub.split("."))).is_dir() else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("proofcheck")}
    return out


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}
GRAPH = {m: {i for i in imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_the_size_limit(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines (limit {MAX_LINES}): split it by concern"


def test_no_import_cycle():
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])


def test_imports_flow_one_way_between_layers():
    bad = []
    for m, deps in GRAPH.items():
        if layer(m) == "api":
            continue
        for n in deps:
            if layer(n) == "api" or (layer(n) != "core" and LAYERS.index(layer(n)) > LAYERS.index(layer(m))):
                bad.append(f"{m} ({layer(m)}) imports {n} ({layer(n)})")
    assert not bad, "imports against the layer order " + " < ".join(LAYERS) + ":\n" + "\n".join(sorted(bad))


def test_check_kinds_never_import_each_other():
    bad = [f"{m} imports {n}" for m, deps in GRAPH.items() if layer(m) == "checks"
           for n in deps if layer(n) == "checks" and n != "proofcheck.checks"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", sorted((ROOT / "lemmas").glob("*.py")), ids=lambda p: p.name)
def test_builtin_lemma_files_import_only_the_public_api(path):
    used = imports(path)
    assert used <= {"proofcheck.api"}, f"{path.name} imports {sorted(used - {'proofcheck.api'})}"


def test_the_checker_of_this_test_sees_a_planted_violation(tmp_path):
    # the size, cycle and layer rules above must be able to fail: feed them a bad module
    bad = tmp_path / "bad.py"
    bad.write_text("from proofcheck.surface.cli import main\nfrom proofcheck.checks.identity import x\n")
    assert {"proofcheck.surface.cli", "proofcheck.checks.identity"} <= imports(bad)
    assert layer("proofcheck.surface.cli") == "surface" and layer("proofcheck.setting.model") == "setting"
    assert layer("proofcheck.verdict") == "core" and layer("proofcheck.api") == "api"
