"""`make lint`'s ReDoS check (ops/redos_check.py, on regexploit) fails on a super-linear
pattern given to `re`, the one of issue 26's case 1 first, and passes on the tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "ops" / "redos_check.py"
# users_service/adapters/log_redaction.py before the fix, as it was written.
CASE_1 = (
    "import re\n"
    "_URL_PASSWORD = re.compile("
    'r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\\s]*:)[^@/\\s]+@", re.IGNORECASE)\n'
)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_the_pattern_of_case_1_fails_the_check(tmp_path: Path) -> None:
    source = tmp_path / "redaction.py"
    source.write_text(CASE_1)
    result = run(CHECK, source)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{source}:2: O(n^2) backtracking" in result.stdout


def test_regexploit_s_own_command_line_misses_it(tmp_path: Path) -> None:
    """Why the check is more than `regexploit-py`: that reports cubic and worse only,
    ignores a search's retry at every offset, and exits 0 whatever it finds."""
    source = tmp_path / "redaction.py"
    source.write_text(CASE_1)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "regexploit-py"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "Vulnerable" not in result.stdout


@pytest.mark.parametrize(
    "call",
    [
        're.search(r"(a+)+$", text)',  # exponential
        're.findall(r"\\w*\\w*x", text)',  # cubic
        're.sub(r"\\{[^}]+\\}", "{}", text)',  # quadratic: the retry at every "{"
        're.match(r"^\\d*\\d*x", text)',  # quadratic though anchored
    ],
)
def test_other_super_linear_shapes_fail_it(tmp_path: Path, call: str) -> None:
    (tmp_path / "m.py").write_text(f"import re\n{call}\n")
    assert run(CHECK, tmp_path).returncode == 1


@pytest.mark.parametrize(
    "call",
    [
        # RE2 cannot backtrack: the same pattern is fine there.
        CASE_1.replace("import re\n", "import re2\n").replace("re.compile", "re2.compile"),
        're.match(r"^[a-z][a-z0-9+.-]*://", text)',  # anchored: linear
        're.fullmatch(r"(\\d+)s", text)',
        're.sub(r"\\{[^{}]+\\}", "{}", text)',  # no overlap between the repeat and "{"
    ],
)
def test_linear_patterns_pass_it(tmp_path: Path, call: str) -> None:
    (tmp_path / "m.py").write_text(f"import re\n{call}\n")
    result = run(CHECK, tmp_path)
    assert result.returncode == 0, result.stdout


def test_the_tree_passes_it() -> None:
    result = run(CHECK, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
