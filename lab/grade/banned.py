"""Banned imports, found by reading the submission's source (AST), never by running it.

An exercise bans the modules that would do its work for the student (``http.server``,
``h11``, ...) and the reference module it replaces. ``import a.b``, ``from a import b``,
``from a.b import c`` and relative imports (resolved against the package the submission
is loaded into) are all caught; ``__import__("h11")`` and ``importlib.import_module``
with a literal name too. A computed name is caught at run time by the harness's import
blocker instead.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BannedImport", "scan_file", "scan_submission", "DEFAULT_BANNED"]

# Libraries that implement what the lab's exercises ask students to build.
DEFAULT_BANNED = (
    "http.server",
    "http.client",
    "socketserver",
    "wsgiref",
    "h11",
    "h2",
    "httptools",
    "websockets",
    "wsproto",
    "aiohttp",
    "tornado",
    "twisted",
    "uvicorn",
    "starlette",
    "flask",
    "django",
    "requests",
    "urllib3",
    "httpx",
)


@dataclass(frozen=True)
class BannedImport:
    file: str
    line: int
    module: str
    banned: str
    source: str

    def message(self) -> str:
        from .sandbox import neutralize

        return neutralize(
            f"{self.file}:{self.line}: `{self.source.strip()[:120]}` imports {self.module!r}, which this "
            f"exercise does not allow ({self.banned!r} does the work you are asked to write)"
        )


def _matches(module: str, banned: list[str]) -> str | None:
    for name in banned:
        if module == name or module.startswith(name + "."):
            return name
    return None


def _resolve(level: int, module: str | None, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    return ".".join(base + ([module] if module else []))


def scan_file(path: Path, banned: list[str], package: str = "", display: str | None = None) -> list[BannedImport]:
    """Every banned import in one file. A file that does not parse yields nothing here:
    the harness reports its SyntaxError with the line, which is the better message."""
    text = path.read_text("utf-8", "replace")
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError:
        return []
    lines = text.splitlines()
    name = display or path.name
    found = []

    def hit(node: ast.AST, module: str) -> None:
        rule = _matches(module, banned)
        if rule:
            src = lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else module
            found.append(BannedImport(name, node.lineno, module, rule, src))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                hit(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.level, node.module, package)
            hit(node, base)
            for alias in node.names:
                if base and not _matches(base, banned):
                    hit(node, f"{base}.{alias.name}")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if fname in ("__import__", "import_module") and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                hit(node, arg.value)
    return found


def scan_submission(directory: Path, files: list[str], banned: list[str], package: str = "") -> list[BannedImport]:
    """Scan the exercise's files and every other ``.py`` file the student added."""
    directory = Path(directory)
    paths = sorted({*(directory / f for f in files), *directory.rglob("*.py")})
    found: list[BannedImport] = []
    for path in paths:
        if path.is_file():
            found.extend(scan_file(path, banned, package, display=str(path.relative_to(directory))))
    return found
