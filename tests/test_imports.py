"""The import graph of abcgen/ and app.py has no cycle, and no module loads another by name.

Data flows one way (grammar -> data -> model -> sampler -> judge/render -> compose -> app), so a
module never needs one below it back. Every import counts: at the top, inside a function (a lazy
import), under `if TYPE_CHECKING`, and the code a module hands a child process (`python -c
"from ... import ..."`). `importlib.import_module`, `__import__` and "module:function" strings
would hide an edge from this walk, so they are refused outright.

The same walk keeps the code's shape: no module over MAX_MODULE_LINES lines and no function over
MAX_FUNCTION_LINES (counted from its `def` line to its last line), so each reads top to bottom.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BY_NAME = re.compile(r"^abcgen(\.\w+)+:\w+$")       # "abcgen.render.outputs:render_here"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = sorted((ROOT / "abcgen").rglob("*.py")) + [ROOT / "app.py"]
    return {module_name(p): p for p in files}


def _text(node: ast.AST) -> str | None:
    """A string constant's text, or an f-string's with each {value} read as 0."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "0" for v in node.values)
    return None


def _imported(tree: ast.AST, here: str, is_package: bool, modules: set[str]) -> set[str]:
    """The abcgen modules (and app) a syntax tree imports."""
    out: set[str] = set()
    package = here if is_package else here.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
        elif (code := _text(node)) is not None and "import " in code:
            try:                                      # code handed to a child process
                inner = ast.parse(code)
            except SyntaxError:
                continue
            out |= _imported(inner, here, is_package, modules)
    return {m for m in out if m in modules}


def graph() -> dict[str, set[str]]:
    files = sources()
    modules = set(files)
    return {name: _imported(ast.parse(path.read_text()), name, path.name == "__init__.py", modules) - {name}
            for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_lazy_and_child_process_imports():
    """The walk can fail: it finds a cycle made only of a lazy import and a child's code."""
    a = ast.parse("def f():\n    from abcgen.b import x\n")
    b = ast.parse("import subprocess\nsubprocess.run(['python', '-c', f'from abcgen.a import y; y({1})'])\n")
    modules = {"abcgen.a", "abcgen.b"}
    edges = {"abcgen.a": _imported(a, "abcgen.a", False, modules),
             "abcgen.b": _imported(b, "abcgen.b", False, modules)}
    assert cycles(edges) == [["abcgen.a", "abcgen.b"]]


def test_no_import_cycle():
    edges = graph()
    assert len(edges) > 40, sorted(edges)              # the walk read the package
    assert cycles(edges) == []


def test_no_module_is_loaded_by_name():
    found = []
    for name, path in sources().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if called in ("import_module", "__import__"):
                    found.append(f"{name}:{node.lineno} calls {called}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                    a.name == "importlib" or (getattr(node, "module", "") or "").startswith("importlib")
                    for a in node.names):
                found.append(f"{name}:{node.lineno} imports importlib")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and BY_NAME.match(node.value):
                found.append(f"{name}:{node.lineno} names {node.value!r}")
    assert found == []


def too_long(name: str, text: str) -> list[str]:
    """The module itself when it is over MAX_MODULE_LINES lines, and each function (or method) over
    MAX_FUNCTION_LINES, with their lengths."""
    found = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name} has {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name} has {length} lines (at most {MAX_FUNCTION_LINES})")
    return found


def test_the_shape_check_can_fail():
    """It names a long module and a long method, and counts from the `def` line to the last line."""
    method = "class A:\n    def f(self):\n" + "        x = 1\n" * (MAX_FUNCTION_LINES - 1)
    assert too_long("m", method) == []
    longer = method + "        x = 2\n" + "y = 0\n" * (MAX_MODULE_LINES - MAX_FUNCTION_LINES)
    assert too_long("m", longer) == [f"m has {MAX_MODULE_LINES + 2} lines (at most {MAX_MODULE_LINES})",
                                     f"m:2 f has {MAX_FUNCTION_LINES + 1} lines (at most {MAX_FUNCTION_LINES})"]


def test_no_module_or_function_is_too_long():
    files = sources()
    assert len(files) > 40, sorted(files)              # the walk read the package
    assert [problem for name, path in files.items() for problem in too_long(name, path.read_text())] == []
