import os
import re
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


def _help_entry(out, flag):
    """The help text of one option, on one line."""
    start = out.index(f"\n  {flag}")
    end = re.compile(r"\n  -|\n\n").search(out, start + 1).start()
    return " ".join(out[start:end].split())


def test_help_says_what_an_unset_option_means(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train-mnist", "--help"])
    out = capsys.readouterr().out
    assert "(default: none, --epochs decides)" in _help_entry(out, "--steps STEPS")
    assert "(default: none, Keras downloads the dataset once)" in _help_entry(out, "--data DATA")
    assert "(default: random, drawn at start" in _help_entry(out, "--seed SEED")
    assert out.count("(default: random") == 1  # only --seed's default is random


def _gancli_without_tensorflow(tmp_path, *argv):
    """`python -m gancli ARGV` where `import tensorflow` (and so `import keras`) raises."""
    blocker = tmp_path / "blocker" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('tensorflow was imported')\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker.parent), root]))
    return subprocess.run([sys.executable, "-m", "gancli", *argv], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


def test_help_answers_without_tensorflow(tmp_path):
    r = _gancli_without_tensorflow(tmp_path, "train-dist", "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: gancli train-dist" in r.stdout and "--batch_size" in r.stdout
    assert r.stderr == ""


def test_config_error_answers_without_tensorflow(tmp_path):
    r = _gancli_without_tensorflow(tmp_path, "train-mnist", "--batch_size", "-1")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("gancli train-mnist: error:") and "batch_size" in r.stderr
    assert not os.path.exists(tmp_path / "runs")  # no run folder either


def test_train_images_is_train_mnist(capsys):
    for name in ("train-mnist", "train-images"):
        with pytest.raises(SystemExit) as e:
            cli.main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "--image_size" in out and "--dataset" in out
    code = cli.main(["train-images", "--batch_size", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("gancli train-images: error:") and "batch_size" in err[0]
