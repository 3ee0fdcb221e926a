"""Make each exercise's starter files from the lab modules they replace.

    python -m lab.grade.starters            # rewrite every exercises/NN-slug/starter/FILE
    python -m lab.grade.starters --check    # write nothing; exit 1 naming each stale one
    lab exercise starters [--check] [ID ...]    # the same (`make starters`)

A starter is its reference module with the student's function bodies taken out, so it
cannot drift from the reference: what the reference gains, the starter gains. What is
the student's, what is given and what is left out is said once per exercise, in
`exercises/NN-slug/starter.toml`, one table per starter file::

    ["parser.py"]
    preamble = '''Exercise 01 starter: ...'''  # after the docstring's first paragraph
    paragraphs = 3                   # of the reference's docstring to keep (default: all)
    given = ["_show", "FileStream"]  # kept as they are (a class: every member)
    drop = ["_NO_BODY", "Connection.__slots__"]   # left out: part of the solution

    ["parser.py".stubs]              # the student's: the body becomes the raise
    "RequestParser.next_event" = "the hint NotImplementedError carries"

    ["parser.py".replace]            # the student's, starting from a body of ours
    "Jobs.__init__" = "self._lock = threading.Lock()"   # (a constant: its whole line)

or, for a file two exercises share, ``["jobs.py"] same_as = "07-short-polling"``.

Kept always: the module docstring, imports, decorators, signatures, docstrings. A stub
also keeps the comments that open its body (the RFC sentence it enforces). Constants
and other statements are kept unless dropped or replaced; an assignment is named by any
name it binds. Every function and method must be named, itself or through a given
class, and every name must be in the reference: when a reference gains or renames a
function, the generator stops until its starter.toml says what it is. An import that
the starter no longer uses is left out, unless the preamble or a hint names it: then
it shows the student where the lab keeps what the hint asks for.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .kit import module_path
from .manifest import REPO_ROOT, Manifest, all_exercises, find_exercise

__all__ = ["Plan", "StarterError", "plans", "render", "starter_texts", "main"]

# Hints are wrapped to fit here; the lab's modules keep to about this width.
WIDTH = 92
_KINDS = {"preamble": str, "paragraphs": int, "given": list, "drop": list, "stubs": dict, "replace": dict}
_KEYS = {*_KINDS, "same_as"}
_Def = ast.FunctionDef | ast.AsyncFunctionDef


class StarterError(ValueError):
    """A starter.toml that does not fit its reference; the message says where."""


@dataclass(frozen=True)
class Plan:
    """What one starter file keeps of its reference module."""

    where: str  # "exercises/01-request-parsing/starter.toml [parser.py]", for messages
    preamble: str = ""
    paragraphs: int | None = None
    given: frozenset[str] = frozenset()
    drop: frozenset[str] = frozenset()
    stubs: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)

    def names(self) -> set[str]:
        """Every name the plan says something of."""
        return set(self.given) | set(self.drop) | set(self.stubs) | set(self.replace)


# -- starter.toml -----------------------------------------------------------------------
def plans(manifest: Manifest) -> dict[str, Plan]:
    """Each of the exercise's files with its plan, from its starter.toml."""
    path = manifest.directory / "starter.toml"
    try:
        tables = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StarterError(f"{path}: {exc}") from None
    out = {}
    for file in manifest.files:
        table = tables.get(file)
        where = f"{path.relative_to(REPO_ROOT)} [{file}]"
        if not isinstance(table, dict):
            raise StarterError(f"{where}: no table for this file")
        if "same_as" in table:
            if len(table) > 1:
                raise StarterError(f"{where}: same_as takes the other exercise's table whole")
            out[file] = plans(find_exercise(table["same_as"]))[file]
        else:
            out[file] = _plan(table, where)
    extra = set(tables) - set(manifest.files)
    if extra:
        raise StarterError(f"{path}: tables for files the exercise does not have: {sorted(extra)}")
    return out


def _plan(table: dict, where: str) -> Plan:
    unknown = set(table) - _KEYS
    if unknown:
        raise StarterError(f"{where}: unknown keys {sorted(unknown)}")
    for key, kind in _KINDS.items():
        if key in table and (not isinstance(table[key], kind) or isinstance(table[key], bool)):
            raise StarterError(f"{where}: {key} must be a {kind.__name__}")
    plan = Plan(
        where, table.get("preamble", "").strip(), table.get("paragraphs"),
        frozenset(table.get("given", ())), frozenset(table.get("drop", ())),
        dict(table.get("stubs", {})), dict(table.get("replace", {})),
    )
    named = [plan.given, plan.drop, set(plan.stubs), set(plan.replace)]
    twice = {n for i, a in enumerate(named) for b in named[i + 1:] for n in a & b}
    if twice:
        raise StarterError(f"{where}: named more than once: {sorted(twice)}")
    return plan


# -- rendering --------------------------------------------------------------------------
def render(source: str, plan: Plan) -> str:
    """The starter text for a reference module's source."""
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    docstring = tree.body[0] if ast.get_docstring(tree, clean=False) is not None else None
    r = _Renderer(lines, plan, docstring)
    text = "".join(r.body(tree.body, 1, len(lines), prefix="", inherited=None))
    problems = []
    if r.unnamed:
        problems.append(f"say whether each is a stub, given or dropped: {', '.join(r.unnamed)}")
    if plan.names() - r.seen:
        problems.append(f"not in the reference: {', '.join(sorted(plan.names() - r.seen))}")
    if problems:  # a function added or renamed: both at once
        raise StarterError(f"{plan.where}: " + "; ".join(problems))
    try:
        ast.parse(text)
    except SyntaxError as exc:  # a replacement that does not fit where it goes
        raise StarterError(f"{plan.where}: the starter would not parse: {exc}") from None
    mentioned = set(re.findall(r"\w+", " ".join([plan.preamble, *plan.stubs.values()])))
    return _tidy(_without_unused_imports(text, mentioned))


class _Renderer:
    def __init__(self, lines: list[str], plan: Plan, docstring: ast.stmt | None) -> None:
        self.lines = lines
        self.plan = plan
        self.docstring = docstring
        self.seen: set[str] = set()  # names of the plan met in the reference
        self.unnamed: list[str] = []  # functions the plan says nothing about

    def text(self, first: int, last: int) -> list[str]:
        """Lines first..last, 1-based and inclusive."""
        return self.lines[first - 1:last]

    def body(self, body: list[ast.stmt], lo: int, hi: int, prefix: str,
             inherited: str | None) -> list[str]:
        """A module's or class's statements, each as the plan says. Where one is left
        out, the blank lines follow PEP 8: two around a top-level def or class, none
        at the top of a class."""
        out: list[str] = []
        previous = None
        for node, (first, last) in zip(body, _regions(self.lines, body, lo, hi)):
            chunk = self.statement(node, first, last, prefix, inherited)
            if not chunk:
                continue
            if prefix and not out:
                chunk = _unpadded(chunk)
            elif not prefix and previous is not None and (_is_block(node) or _is_block(previous)):
                chunk = ["\n", "\n", *_unpadded(chunk)]
            out += chunk
            previous = node
        return out

    def statement(self, node: ast.stmt, first: int, last: int, prefix: str,
                  inherited: str | None) -> list[str]:
        """One statement (lines first..last) as the plan says; a class member by member
        when the plan names one of its members."""
        if node is self.docstring:
            return self.module_docstring(node, first, last)
        names = [prefix + name for name in _bound_names(node)]
        choice, name = self.choose(names)
        choice = choice or inherited
        if choice == "drop":
            return []
        if isinstance(node, ast.ClassDef) and choice in (None, "given") and (
                choice is None or any(n.startswith(names[0] + ".") for n in self.plan.names())):
            head_end = _head_end(self.lines, node)
            members = self.body(node.body, head_end + 1, last, names[0] + ".", choice)
            return self.text(first, head_end) + members
        if choice == "stub":
            return self.function(node, first, self.plan.stubs[name], stub=True)
        if choice == "replace" and isinstance(node, _Def):
            return self.function(node, first, self.plan.replace[name], stub=False)
        if choice == "replace":  # a whole statement
            replacement = _indent(self.plan.replace[name], node.col_offset)
            return self.text(first, _start(node) - 1) + replacement
        if choice is None and isinstance(node, _Def):
            self.unnamed.append(names[0])
        return self.text(first, last)

    def choose(self, names: list[str]) -> tuple[str | None, str]:
        """What the plan says of a statement binding these names, and which name it says it of."""
        plan = self.plan
        tables = (("stub", plan.stubs), ("replace", plan.replace), ("given", plan.given), ("drop", plan.drop))
        for name in names:
            for choice, table in tables:
                if name in table:
                    self.seen.add(name)
                    return choice, name
        return None, ""

    def function(self, node: ast.stmt, first: int, text: str, stub: bool) -> list[str]:
        """A function with its body taken out: signature, docstring, and (for a stub) the
        comments that open the body, then the raise; or our own body."""
        if not isinstance(node, _Def):
            raise StarterError(f"{self.plan.where}: line {node.lineno}: only a function can be a stub")
        head_end = _head_end(self.lines, node)
        out = self.text(first, head_end)
        inner = node.body
        regions = _regions(self.lines, inner, head_end + 1, node.end_lineno or node.lineno)
        col = inner[0].col_offset
        if ast.get_docstring(node, clean=False) is not None:
            out += self.text(*regions[0])
            inner, regions = inner[1:], regions[1:]
        if stub and inner:
            comments = self.text(regions[0][0], _start(inner[0]) - 1)
            while comments and not comments[-1].strip():
                comments.pop()
            out += comments
        return out + (_raise(text, col) if stub else _indent(text, col))

    def module_docstring(self, node: ast.stmt, first: int, last: int) -> list[str]:
        doc = self.text(_start(node), node.end_lineno or node.lineno)
        return self.text(first, _start(node) - 1) + _docstring(doc, self.plan) + self.text(
            (node.end_lineno or node.lineno) + 1, last)


def _is_block(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _unpadded(lines: list[str]) -> list[str]:
    """The lines without the blank ones they start with."""
    n = 0
    while n < len(lines) and not lines[n].strip():
        n += 1
    return lines[n:]


def _start(node: ast.stmt) -> int:
    """The statement's first line, its decorators included."""
    return min([d.lineno for d in getattr(node, "decorator_list", ())] + [node.lineno])


def _is_code(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _head_end(lines: list[str], node: ast.stmt) -> int:
    """The last line of a def or class statement's header (the one with its colon)."""
    body_start = _start(node.body[0])  # type: ignore[attr-defined]
    if body_start <= node.lineno:
        raise StarterError(f"line {node.lineno}: a body on the header's line cannot be taken apart")
    end = body_start - 1
    while not _is_code(lines[end - 1]):
        end -= 1
    return end


def _regions(lines: list[str], body: list[ast.stmt], lo: int, hi: int) -> list[tuple[int, int]]:
    """Each statement's lines (1-based, inclusive), together covering lo..hi: the comments
    and blank lines before it, itself, and the comments after it indented deeper than the
    statement that follows (the tail of its body)."""
    starts = [lo]
    for prev, node in zip(body, body[1:]):
        cut = prev_end = prev.end_lineno or prev.lineno
        for n in range(prev_end + 1, _start(node)):
            line = lines[n - 1]
            if line.strip():
                if len(line) - len(line.lstrip()) <= node.col_offset:
                    break
                cut = n
        starts.append(cut + 1)
    return list(zip(starts, [s - 1 for s in starts[1:]] + [hi]))


def _bound_names(node: ast.stmt) -> list[str]:
    """The names a statement defines: a def's or class's name, an assignment's targets."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _indent(text: str, col: int) -> list[str]:
    lines = textwrap.dedent(text).strip("\n").splitlines()
    return [(" " * col + line).rstrip() + "\n" for line in lines]


def _quote(text: str) -> str:
    """Double quotes, unless the text holds them and no single quote."""
    return "'" if '"' in text and "'" not in text else '"'


def _literal(text: str, quote: str) -> str:
    """A Python string literal for text."""
    for char, escape in (("\\", "\\\\"), ("\n", "\\n"), ("\t", "\\t"), (quote, "\\" + quote)):
        text = text.replace(char, escape)
    return quote + text + quote


def _raise(hint: str, col: int) -> list[str]:
    """`raise NotImplementedError(hint)`, the hint wrapped into literals that fit WIDTH."""
    pad, quote = " " * col, _quote(hint)
    one = f"{pad}raise NotImplementedError({_literal(hint, quote)})"
    if len(one) <= WIDTH:
        return [one + "\n"]
    room = WIDTH - col - 4 - 2  # the deeper indent and the quotes
    pieces, piece = [], ""
    for word in hint.split(" "):
        candidate = f"{piece} {word}" if piece else word
        if piece and len(_literal(candidate, quote)) - 2 > room:
            pieces.append(piece + " ")
            candidate = word
        piece = candidate
    pieces.append(piece)
    literals = [f"{pad}    {_literal(p, quote)}\n" for p in pieces]
    return [f"{pad}raise NotImplementedError(\n", *literals, f"{pad})\n"]


def _docstring(doc: list[str], plan: Plan) -> list[str]:
    """The module docstring's lines: the reference's first `plan.paragraphs` paragraphs,
    with the preamble after the first."""
    *body, last = doc
    stripped = last.rstrip()
    quotes = stripped[-3:]
    if body and stripped.strip() == quotes:
        closing = last
    else:  # text"""
        body.append(stripped[:-3].rstrip() + "\n")
        closing = quotes + "\n"
    paragraphs: list[list[str]] = [[]]
    for line in body:
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    paragraphs = [p for p in paragraphs if p][:plan.paragraphs]
    if plan.preamble:
        paragraphs.insert(1, [line.rstrip() + "\n" if line.strip() else "\n"
                              for line in plan.preamble.splitlines()])
    out = [line for p in paragraphs for line in ["\n", *p]][1:]
    return out + [closing]


def _without_unused_imports(text: str, mentioned: set[str]) -> str:
    """The module text without the imported names nothing in it uses. ``__all__`` counts
    as a use, and so does a mention in a hint or the preamble: the import then shows the
    student where the lab keeps what the hint asks for (``HTTPError``, ``NEED_DATA``)."""
    tree = ast.parse(text)
    used = mentioned | {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for node in tree.body:
        if "__all__" in _bound_names(node):
            used |= {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant)}
    lines = text.splitlines(keepends=True)
    for node in reversed(tree.body):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "module", "") == "__future__":
            continue
        keep = [a for a in node.names if (a.asname or a.name.partition(".")[0]) in used]
        if len(keep) < len(node.names):
            lines[node.lineno - 1:node.end_lineno] = _import_lines(node, keep)
    return "".join(lines)


def _import_lines(node: ast.Import | ast.ImportFrom, names: list[ast.alias]) -> list[str]:
    if not names:
        return []
    pad = " " * node.col_offset
    parts = [a.name + (f" as {a.asname}" if a.asname else "") for a in names]
    if isinstance(node, ast.Import):
        return [f"{pad}import {part}\n" for part in parts]
    head = f"{pad}from {'.' * node.level}{node.module or ''} import "
    if len(head) + len(", ".join(parts)) <= WIDTH:
        return [head + ", ".join(parts) + "\n"]
    out, line = [head + "(\n"], pad + "   "
    for part in parts:
        if len(line) + len(part) + 2 > WIDTH:
            out.append(line + "\n")
            line = pad + "   "
        line += f" {part},"
    return out + [line + "\n", pad + ")\n"]


def _tidy(text: str) -> str:
    """At most two blank lines in a row (where a statement was left out), one newline at
    the end."""
    out: list[str] = []
    for line in text.splitlines():
        if line.strip() or any(s.strip() for s in out[-2:]) or len(out) < 2:
            out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


# -- the files --------------------------------------------------------------------------
def starter_texts(manifest: Manifest, root: Path | None = None) -> dict[str, str]:
    """Each of the exercise's starter files as the generator makes it now."""
    root = Path(root or REPO_ROOT)
    file_plans = plans(manifest)
    return {file: render(module_path(module, root).read_text("utf-8"), file_plans[file])
            for file, module in manifest.modules()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.grade.starters",
                                 description=__doc__.split("\n\n")[0])
    configure(ap)
    return run(ap.parse_args(argv))


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="*", metavar="ID", help="exercises to make (default: every one)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 and name each starter that differs")


def run(args: argparse.Namespace) -> int:
    try:
        manifests = [find_exercise(i) for i in args.ids] if args.ids else all_exercises()
        texts = {m.directory / "starter" / file: text
                 for m in manifests for file, text in starter_texts(m).items()}
    except ValueError as exc:  # StarterError, ManifestError
        print(f"starters: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in texts.items()
             if not path.is_file() or path.read_text("utf-8") != text]
    for path in stale:
        if not args.check:
            path.write_text(texts[path], "utf-8")
        shown = path.relative_to(REPO_ROOT)
        print(f"{shown}: out of date (run `make starters`)" if args.check else f"{shown}: written")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
