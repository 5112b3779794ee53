"""Small assertions and readers shared by the CLI tests."""
import csv


def assert_one_line_error(code, err, *needles, prefix):
    """The CLI failed the way a user error must: exit 2, one line, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])


def read_csv(path):
    """(fieldnames, rows as dicts) of a CSV file."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)
