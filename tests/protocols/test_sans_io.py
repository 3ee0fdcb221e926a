"""The push cores never touch I/O (ARCHITECTURE.md, "Three layers"; STYLE.md rule 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "protocols"
MODULES = ["sse.py", "errors.py", "websocket/__init__.py", "websocket/handshake.py",
           "websocket/frames.py", "websocket/connection.py"]
FORBIDDEN = {"socket", "select", "selectors", "threading", "asyncio", "ssl"}


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_io(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN


@pytest.mark.parametrize("module", MODULES)
def test_module_has_all_and_future_annotations(module: str) -> None:
    source = (ROOT / module).read_text()
    assert "from __future__ import annotations" in source
    assert "__all__" in source
