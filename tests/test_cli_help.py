import subprocess
import sys

import pytest

from gancli import cli


def test_help_lists_every_option_with_default(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train-dist", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--batch_size", "--steps", "--show_every", "--seed", "--loss", "--preset",
                 "--config", "--resume", "--overwrite", "--target", "--decorate"):
        assert flag in out
    assert "(default: 10)" in out  # batch size of seed-normal


def test_help_does_not_import_tensorflow():
    code = ("import sys; from gancli import cli\n"
            "try:\n    cli.main(['train-dist', '--help'])\nexcept SystemExit: pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
