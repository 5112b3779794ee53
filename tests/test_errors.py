"""Every bad input in tests/error_cases.py, through cli.main: one line on stderr, the
right exit code, no traceback, existing files untouched; and docs/errors.md is the
current rendering of these cases."""
from pathlib import Path

import pytest

import error_cases
from error_cases import CASES

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
_results: dict = {}  # case index -> (case, argv, result, DIR), reused by the docs test


SLOW = ("learning rate so large that training diverges",  # each trains for seconds
        "disk full while writing a checkpoint")
assert set(SLOW) <= {c.what for c in CASES}, "a SLOW name no case has"


@pytest.mark.parametrize("i", [pytest.param(i, marks=pytest.mark.slow) if c.what in SLOW else i
                               for i, c in enumerate(CASES)], ids=[c.what for c in CASES])
def test_bad_input_gets_one_clear_line(i, tmp_path):
    case = CASES[i]
    argv, res = error_cases.run(case, tmp_path)
    _results[i] = (case, argv, res, tmp_path)
    assert res.code == case.code, res.lines
    assert len(res.lines) == 1, res.lines
    line = res.lines[0]
    assert line.startswith(f"gancli {argv[0]}: error: "), line
    assert "Traceback" not in line and case.expect in line, line
    assert res.changed == [], f"files changed: {res.changed}"
    if not case.writes:  # refused before anything was created
        assert not [p for p in res.created if p == "out"], res.created


@pytest.mark.slow
def test_docs_errors_md_is_the_current_rendering(tmp_path):
    results = []
    for i, case in enumerate(CASES):
        if i not in _results:  # run alone: run the case here
            d = tmp_path / f"case{i:02d}"
            d.mkdir()
            _results[i] = (case, *error_cases.run(case, d), d)
        results.append(_results[i])
    assert DOC.read_text(encoding="utf-8") == error_cases.render(results), \
        "docs/errors.md is stale: python tests/error_cases.py > docs/errors.md"
