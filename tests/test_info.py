"""`gancli info` through the CLI: its sections, and auto picks equal to what the train
commands' resolution functions return on this machine."""
import json
import os
import platform

import pytest

from gancli import __version__, cli
from gancli.training import distribute, precision


def _info(capsys, *argv):
    code = cli.main(["info", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _row(out, key):
    """The value column of the line `  KEY  value`."""
    line = next(x for x in out.splitlines() if x.startswith(f"  {key} "))
    return line[len(key) + 2:].strip()


def test_text_has_every_section_and_the_picks_of_the_resolution_functions(capsys):
    import keras
    import tensorflow as tf

    out = _info(capsys)
    for section in ("versions", "devices", "cpu", "auto picks"):
        assert f"\n{section}\n" in f"\n{out}"
    assert _row(out, "gancli") == __version__
    assert _row(out, "tensorflow") == tf.__version__
    assert _row(out, "keras") == keras.__version__
    assert _row(out, "python").startswith(platform.python_version())
    assert _row(out, "tensorflow sees").startswith("CPU:0")
    assert _row(out, "built with cuda") in ("yes", "no")
    assert _row(out, "onednn").startswith(
        {"1": "on", "0": "off"}.get(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "TensorFlow"))
    flags = precision.cpu_flags()
    for feature in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"):
        assert _row(out, feature) == ("yes" if feature in flags else "no")
    strategy, why = distribute.resolve_strategy("auto")
    assert _row(out, "--strategy auto").split() == [strategy, *why.split()]
    prec, why = precision.resolve("auto")
    assert _row(out, "--precision auto").split() == [prec, *why.split()]
    for command, on_cpu in (("train-dist", True), ("train-mnist", False)):
        on, why = distribute.resolve_jit("auto", strategy != "one_device", on_cpu)
        assert _row(out, f"--jit auto ({command})").split() == ["on" if on else "off",
                                                                  *why.split()]


def test_json_is_the_same_report(capsys):
    report = json.loads(_info(capsys, "--json"))
    assert set(report) == {"versions", "devices", "cpu", "auto picks"}
    assert report["auto picks"]["--precision auto"]["pick"] == precision.resolve("auto")[0]
    assert report["auto picks"]["--strategy auto"]["pick"] == \
        distribute.resolve_strategy("auto")[0]
    assert report["devices"]["gpus"] == []  # the tests hide GPUs (conftest)
    assert report["devices"]["diagnosis"] == "no GPU: training runs on the CPU"
    assert isinstance(report["cpu"]["avx2"], bool)


def test_shows_the_nvidia_smi_diagnosis(tmp_path, monkeypatch, capsys):
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "GPU 0: NVIDIA L4 (UUID: GPU-1234)"\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    out = _info(capsys)
    assert _row(out, "nvidia-smi") == "GPU 0: NVIDIA L4 (UUID: GPU-1234)"
    assert _row(out, "diagnosis").startswith(
        "warning: nvidia-smi sees 1 GPU(s) but TensorFlow sees none: install with pip "
        "install 'gancli[gpu]'")


@pytest.mark.parametrize("setting", ["one_device", "mirrored"])
def test_resolution_as_set(setting):
    assert distribute.resolve_strategy(setting) == (setting, "as set")
    assert distribute.resolve_jit("off", setting == "mirrored", True) == (False, "as set")
