"""The ReDoS check of `make lint`: every pattern literal given to Python's `re` in the tree
must match in linear time; exit 1, naming each one, when one does not.

regexploit finds the patterns and models their backtracking. Its own command line
(`regexploit-py`) misses the pattern of issue 26 (case 1) and exits 0 even on what it
finds: it reports cubic and worse only, and ignores that a search (`re.search`, `sub`,
`findall`, a compiled pattern used so) retries at every offset, one degree more. So
`[a-z][a-z0-9+.-]*://`, linear when anchored, is quadratic over a long run of letters.
Here a pattern not anchored at its start gets that retry as a leading `.*`, and a
quadratic chain counts.

Patterns given to `re2` are not checked: RE2 cannot backtrack. A pattern kept in a
variable before `re` gets it is not seen; the service itself imports no `re` at all
(tests/unit/test_linear_patterns.py).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regexploit.ast.char import Character
from regexploit.ast.repeat import InfiniteRepeat
from regexploit.ast.sequence import Sequence
from regexploit.ast.sre import SreOpParser
from regexploit.languages.python_node_visitor import RE_FUNC_TO_FLAGS_POS, RegexFlagVisitor
from regexploit.redos import Redos, expand_branches, make_redos

# Calls whose match starts at the beginning of the text: no retry at later offsets.
_ANCHORED_CALLS = frozenset({"match", "fullmatch"})
_SKIPPED_DIRS = frozenset({".venv", ".cache", ".git", "build", "node_modules"})


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    pattern: str
    redos: Redos

    def __str__(self) -> str:
        degree = (
            "exponential" if self.redos.starriness > 10 else f"O(n^{self.redos.starriness - 1})"
        )
        return (
            f"{self.path}:{self.line}: {degree} backtracking in {self.pattern!r}; "
            f"e.g. {self.redos.example()} (use re2, or rewrite it)"
        )


@dataclass(frozen=True)
class _Literal:
    line: int
    pattern: str
    flags: int
    anchored_call: bool


class _ReCalls(ast.NodeVisitor):
    """`re.<function>("pattern", …)` calls with a literal pattern."""

    def __init__(self) -> None:
        self.found: list[_Literal] = []

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "re"
            and func.attr in RE_FUNC_TO_FLAGS_POS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str | bytes)
        ):
            pattern = node.args[0].value
            if isinstance(pattern, bytes):
                pattern = pattern.decode("latin-1")
            flags_pos = RE_FUNC_TO_FLAGS_POS[func.attr]
            flag_nodes = [kw.value for kw in node.keywords if kw.arg == "flags"]
            if len(node.args) > flags_pos:
                flag_nodes.append(node.args[flags_pos])
            flags = 0
            for flag_node in flag_nodes:
                flags |= RegexFlagVisitor.get_flags(flag_node)
            self.found.append(_Literal(node.lineno, pattern, flags, func.attr in _ANCHORED_CALLS))
        self.generic_visit(node)


def _anchored_at_start(pattern: str, flags: int) -> bool:
    parsed: Any = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
    if parsed.state.flags & re.MULTILINE:
        return False  # `^` then matches after every newline
    at: Any = re._constants  # type: ignore[attr-defined]
    starts = [(at.AT, at.AT_BEGINNING), (at.AT, at.AT_BEGINNING_STRING)]
    return len(parsed) > 0 and any(parsed[0] == start for start in starts)


def backtracking(pattern: str, flags: int = 0, *, anchored_call: bool = False) -> list[Redos]:
    """The super-linear backtracking regexploit finds in `pattern`, a search's retry at
    every offset included."""
    try:
        parsed = SreOpParser().parse_sre(pattern, flags)
    except re.error:
        return []
    if parsed is None:
        return []
    elements = list(parsed.elements) if isinstance(parsed, Sequence) else [parsed]
    shapes = [Sequence(elements)]
    if not anchored_call and not _anchored_at_start(pattern, flags):
        shapes.append(Sequence([InfiniteRepeat(Character.ANY(), 0), *elements]))
    found: list[Redos] = []
    for shape in shapes:
        for branchless in expand_branches(shape):
            for i, elem in enumerate(branchless.elements):
                if isinstance(elem, InfiniteRepeat) and (chars := elem.overall_character_class()):
                    # regexploit counts a chain past a starriness of 2 (cubic); one more for
                    # the chain's own start makes a quadratic chain count too.
                    found.extend(make_redos(branchless, i, i + 1, chars, elem.starriness + 1))
    return sorted(found, key=lambda redos: -redos.starriness)


def python_files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*.py")):
            if not _SKIPPED_DIRS & set(path.relative_to(root).parts):
                yield path


def check(roots: list[Path]) -> list[Finding]:
    """Every super-linear `re` pattern literal in the Python files under `roots`."""
    findings: list[Finding] = []
    for path in python_files(roots):
        calls = _ReCalls()
        calls.visit(ast.parse(path.read_bytes(), filename=str(path)))
        for literal in calls.found:
            found = backtracking(
                literal.pattern, literal.flags, anchored_call=literal.anchored_call
            )
            if found:  # the worst of them
                findings.append(Finding(path, literal.line, literal.pattern, found[0]))
    return findings


def main(argv: list[str]) -> int:
    findings = check([Path(arg) for arg in argv] or [Path(".")])
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
