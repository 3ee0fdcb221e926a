"""The mutation matrix of exercise 01: each known-bad variant of the reference fails
exactly the checks declared for it, and every check has at least one mutant that kills
it. A mutant edit that no longer applies to the reference fails loudly."""
from __future__ import annotations

import pytest

from lab.grade.runner import grade

from .grade_helpers import EX01, leftovers, mutant

P, H = "parser.py", "head.py"

# name: (edits, checks it must fail, and no other)
MUTANTS = {
    "whitespace-before-colon-accepted": (
        [(H, '_FIELD_LINE = re.compile(TOKEN + rb":', '_FIELD_LINE = re.compile(TOKEN + rb"[ \\t]*:'),
         (H, 'rb"^(" + TOKEN + rb"):', 'rb"^(" + TOKEN + rb")[ \\t]*:')],
        {"whitespace-before-colon", "lab-rejects-with-your-parser"},
    ),
    "oversized-header-is-400": (
        [(P, "raise HTTPError(431, f\"header section larger", "raise HTTPError(400, f\"header section larger")],
        {"header-limits"},
    ),
    "host-not-required": (
        [(P, 'if hosts == 0 and version == b"1.1":', "if False:")],
        {"host-required"},
    ),
    "version-keeps-its-name": (
        [(H, 'return method, target, _VERSIONS[minor]', 'return method, target, b"HTTP/" + _VERSIONS[minor]')],
        # ... and Host stops being required: the check compares version == b"1.1".
        {"simple-get", "request-line-forms", "robustness", "header-fields", "limits-at-the-edge",
         "content-length-body", "chunked-body", "host-required"},
    ),
    "asterisk-form-refused": (
        [(H, 'if target == b"*":', 'if target == b"no such target":')],
        {"request-line-forms"},
    ),
    "several-spaces-allowed": (
        [(H, 'rb") ([!-~]+) HTTP/', 'rb") +([!-~]+) HTTP/')],
        {"bad-request-line"},
    ),
    "505-is-400": (
        [(H, "raise HTTPError(505,", "raise HTTPError(400,")],
        {"unsupported-version", "lab-rejects-with-your-parser"},
    ),
    "request-line-limit-only-after-crlf": (
        [(P, 'if size - buf.endswith(b"\\r") > limits.max_request_line:', "if False:")],
        {"request-line-too-long"},
    ),
    "no-empty-line-skip": (
        [(P, 'while buf[:2] == b"\\r\\n":', "while False:")],
        {"robustness"},
    ),
    "repeated-fields-collapsed": (
        [(H, "    return fields\n", "    return list(dict(fields).items())\n")],
        {"header-fields", "host-required", "invalid-content-length"},  # two Content-Lengths become one
    ),
    "any-field-name": (
        [(H, '_FIELD_LINE = re.compile(TOKEN + rb":', '_FIELD_LINE = re.compile(rb"[^:\\r\\n]+:'),
         (H, 'rb"^(" + TOKEN + rb"):', 'rb"^([^:\\r\\n]+):')],
        {"bad-field-name", "whitespace-before-colon", "lab-rejects-with-your-parser"},
    ),
    "max-headers-off-by-one": (
        [(P, "if len(headers) > limits.max_headers:", "if len(headers) >= limits.max_headers:")],
        {"limits-at-the-edge"},
    ),
    "content-length-one-short": (
        [(P, "return ContentLengthReader(self._content_length(lengths))",
          "return ContentLengthReader(max(0, self._content_length(lengths) - 1))")],
        {"content-length-body", "lab-serves-with-your-parser"},
    ),
    "chunked-ignored": (
        [(P, "        return ChunkedReader(self.limits)", "        return _NO_BODY")],
        {"chunked-body", "body-too-large"},
    ),
    "content-length-not-validated": (
        [(P, "if not value.isdigit():", "if False:")],
        {"invalid-content-length"},
    ),
    "max-body-ignored": (
        [(P, "if len(digits) > 18 or int(digits) > self.limits.max_body:", "if len(digits) > 18:")],
        {"body-too-large"},
    ),
    "te-and-cl-accepted": (
        [(P, 'raise HTTPError(400, "both Content-Length and Transfer-Encoding")', "pass")],
        {"smuggling-te-and-cl"},
    ),
    "unknown-coding-is-400": (
        [(P, "raise HTTPError(501, f\"transfer coding", "raise HTTPError(400, f\"transfer coding")],
        {"unknown-transfer-coding"},
    ),
    "obs-fold-kept-with-two-spaces": (
        [(H, "    fields = _FIELDS.findall(data, start, end)",
          "    data = bytes(data[start:end]).replace(b\"\\r\\n \", b\"  \")\n    start, end = 0, len(data)\n"
          "    fields = _FIELDS.findall(data, start, end)")],
        {"obsolete-line-folding"},
    ),
}

# Run on every `make test`; the rest of the matrix is `slow`.
FAST = ("whitespace-before-colon-accepted", "oversized-header-is-400", "host-not-required")


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


def _failing(tmp_path, name: str) -> set[str]:
    edits, _ = MUTANTS[name]
    res = grade(EX01, mutant(tmp_path / name, edits), seed=11, keep_going=True, timeout=8)
    bad = {c["name"]: c["status"] for c in res["checks"] if c["status"] != "passed"}
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    return set(bad)


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    assert _failing(tmp_path, name) == MUTANTS[name][1]


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, declared in MUTANTS.values()))
    assert {c.name for c in EX01.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name, (edits, _) in MUTANTS.items():
        mutant(tmp_path / name, edits)
