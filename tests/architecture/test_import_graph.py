"""The layers of `webapp`, checked from its import statements (read with `ast`, not run).

`LAYERS` is the one table of which part may import which. A unit is a package of `webapp`
(`commissions`, `api`, ...) or a module at its top (`money`, `web`, ...); `""` is
`webapp/__init__.py`, the app factory. A module imports its own unit and units of its own or
lower layers, never a higher one, and no two units import each other, even through others
(package level). Inside an area, services never import its pages (file level); so too inside
the read-side units, whose reads (`insight.drill`, `insight.explain`, `main.queries`, ...)
never import their routes.
Imports inside functions count too: they run later, but they are arrows all the same.

"Every module imports on its own, whatever is imported first" follows from the graph of
imports run at import time (module level) having no cycle: a module is then always executed
after everything it needs, in any order. That graph is checked here; the slow test at the end
proves it the long way (a fresh `webapp` for each module) and runs with `-m slow`.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The layers, lowest first: (what it is, its units). Units of one layer may import each
#: other (the cycle check still applies); a unit may import any unit of a lower layer.
LAYERS = (
    (
        "plain Python: words, amounts, text, the rules",
        (
            "vocab",
            "money",
            "errors",
            "config",
            "labels",
            "addresses",
            "csvio",
            "charts",
            "attribution",
            "json_input",
        ),
    ),
    (
        "schema",
        (
            "extensions",
            "db_types",
            "reward_sums",
            "reward_revisions",
            "row_revisions",
            "reward_partitions",
            "models",
        ),
    ),
    ("storage and the audit log", ("storage", "audit")),
    ("the runs' table of moves", ("run_states",)),
    ("page helpers: login, roles, page or fragment, error pages", ("web",)),
    ("the job queue, its worker and job pages", ("jobs",)),
    ("areas every other names", ("auth", "chains", "partners")),
    ("areas on partners and chains", ("wallets", "imports", "agreements")),
    ("commissions", ("commissions",)),
    ("payouts", ("payouts",)),
    ("read-side pages and their reads", ("insight", "main", "history")),
    ("the JSON API", ("api",)),
    ("the app factory, its command-line guard and the demo data", ("", "commands", "demo")),
)

#: Modules that are pages or commands: the routes, forms and command line of an area, and the
#: history's wording (its entries as markup with links).
PAGE_MODULES = frozenset(
    {
        "routes",
        "close_routes",
        "runs_list",
        "downloads",
        "forms",
        "close_forms",
        "cli",
        "pages",
        "wording",
    }
)
#: From this layer up, whole units are pages. Below it, areas and the read-side units alike,
#: only `PAGE_MODULES` (and `web`) are pages.
FIRST_PAGE_LAYER = "the JSON API"

#: Arrows that run up and stay, each with why: (importing module, imported unit) -> reason.
#: The partner page is built from each area's section; moving it above the areas would move
#: the `partners.detail` endpoint out of its blueprint.
ALLOWED_UP = {
    ("webapp.partners.routes", "wallets"): "the partner page shows its wallets section",
    ("webapp.partners.routes", "agreements"): "the partner page shows its agreements",
    ("webapp.partners.routes", "commissions"): "the partner page shows its recent runs",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / "webapp").rglob("*.py"))}


MODULES = _modules()


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


LAYER_OF = {unit: index for index, (_, units) in enumerate(LAYERS) for unit in units}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runs_later(node: ast.AST) -> bool:
    """A function's body, or an `if TYPE_CHECKING:` block: not run when the module is."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return True
    return isinstance(node, ast.If) and _is_type_checking(node)


def _imports(tree: ast.AST, at_import: bool = True):
    """(node, runs at import time) for each import statement, functions' bodies included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, at_import
        elif _runs_later(node):
            yield from _imports(node, False)
        else:
            yield from _imports(node, at_import)


def _targets(module: str, path: Path, node) -> list[tuple[str, str]]:
    """The webapp modules an import statement needs, each with the names it takes."""
    found = []
    if isinstance(node, ast.Import):
        return [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "webapp"]
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    if base.split(".")[0] != "webapp":
        return found
    for alias in node.names:
        # A submodule is imported whatever state its package is in; any other name needs
        # the package's own module to have run.
        if f"{base}.{alias.name}" in MODULES:
            found.append((f"{base}.{alias.name}", ""))
        else:
            found.append((base, alias.name))
    return found


def _graph():
    """[(importer, imported, imported names, runs at import time, line)] for webapp."""
    edges = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, at_import in _imports(tree):
            for target, name in _targets(module, path, node):
                if target != module:
                    edges.append((module, target, name, at_import, node.lineno))
    return edges


EDGES = _graph()


def _where(edge) -> str:
    module, target, name, at_import, line = edge
    return f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} {name}".rstrip()


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its nodes, the first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_walk_found_the_app():
    assert len(MODULES) > 100
    assert {"webapp.commissions.committing", "webapp.web", "webapp.api"} <= set(MODULES)
    assert any(target == "webapp.vocab" for _, target, *_ in EDGES)


def test_every_unit_has_one_layer():
    named = [unit for _, units in LAYERS for unit in units]
    assert len(named) == len(set(named))
    assert {unit_of(m) for m in MODULES} == set(named)


def test_no_import_runs_up_a_layer():
    up = [
        _where(edge)
        for edge in EDGES
        if LAYER_OF[unit_of(edge[0])] < LAYER_OF[unit_of(edge[1])]
        and (edge[0], unit_of(edge[1])) not in ALLOWED_UP
    ]
    assert not up, "\n".join(up)


def test_no_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for module, target, *_ in EDGES:
        if unit_of(module) != unit_of(target) and (module, unit_of(target)) not in ALLOWED_UP:
            graph.setdefault(unit_of(module), set()).add(unit_of(target))
    assert _find_cycle(graph) is None


def test_services_never_import_pages():
    first_page = [name for name, _ in LAYERS].index(FIRST_PAGE_LAYER)

    def is_page(module):
        return (
            module == "webapp.web"
            or module.rsplit(".", 1)[-1] in PAGE_MODULES
            or LAYER_OF[unit_of(module)] >= first_page
        )

    wrong = [_where(edge) for edge in EDGES if not is_page(edge[0]) and is_page(edge[1])]
    assert not wrong, "\n".join(wrong)


def test_enums_come_from_vocab():
    """The domain words are imported from `vocab`, not through `models` that re-exports them."""
    tree = ast.parse(MODULES["webapp.vocab"].read_text(encoding="utf-8"))
    words = {node.name for node in tree.body if isinstance(node, ast.ClassDef | ast.FunctionDef)}
    words |= {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    through_models = [
        _where(edge)
        for edge in EDGES
        if edge[1] == "webapp.models" and edge[2] in words and edge[0] != "webapp.models"
    ]
    assert not through_models, "\n".join(through_models)


#: Modules whose private names no other module reaches: each is reached through its public
#: functions only (the input loader: one way to read what the calculation reads).
SEALED = ("webapp.commissions.inputs",)


def test_sealed_modules_are_reached_through_public_names():
    wrong = [
        _where(edge)
        for edge in EDGES
        if edge[1] in SEALED and edge[2].startswith("_") and edge[0] != edge[1]
    ]
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for sealed in SEALED:
            short = sealed.rsplit(".", 1)[-1]
            wrong += [
                f"{path.relative_to(ROOT)}:{node.lineno} reaches {short}.{node.attr}"
                for node in ast.walk(tree)
                if module != sealed
                and isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and isinstance(node.value, ast.Name)
                and node.value.id == short
            ]
    assert not wrong, "\n".join(wrong)


def test_run_statuses_are_named_through_run_status():
    """A run's status is compared with `RunStatus` (or `run_states`' groups of it), never
    with a raw string: one spelling of each word."""
    from webapp.vocab import RunStatus

    words = {status.value for status in RunStatus}

    def raw(node) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in words
        return isinstance(node, ast.Tuple | ast.List | ast.Set) and any(map(raw, node.elts))

    def is_status(node) -> bool:
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
        return name == "status"

    wrong = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        wrong += [
            f"{path.relative_to(ROOT)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Compare)
            and is_status(node.left)
            and any(map(raw, node.comparators))
        ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_modules_at_import_time():
    graph: dict[str, set[str]] = {}
    for module, target, _, at_import, _ in EDGES:
        if at_import:
            graph.setdefault(module, set()).add(target)
    assert _find_cycle(graph) is None


def test_each_allowed_arrow_still_exists():
    seen = {(module, unit_of(target)) for module, target, *_ in EDGES}
    assert set(ALLOWED_UP) <= seen
    assert all(LAYER_OF[unit_of(module)] < LAYER_OF[unit] for module, unit in ALLOWED_UP), (
        "an allowed arrow that runs down needs no exception"
    )


def test_every_module_imports():
    """One interpreter imports each module once (the static checks above cover the order)."""
    names = sorted(MODULES)
    probe = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


PROBE = r"""
import importlib, sys, traceback
names = sys.argv[1:]
failures = []
for name in names:
    for loaded in [m for m in sys.modules if m == "webapp" or m.startswith("webapp.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\n".join(failures))
"""


@pytest.mark.slow
def test_each_module_imports_first_without_a_cycle():
    """The long way: each module imported first, in a fresh `webapp` (about 90 s)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *sorted(MODULES)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        cwd=ROOT,
    )
    assert [f for f in done.stdout.strip().split("\n") if f] == []
