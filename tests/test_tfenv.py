"""gancli.tfenv.configure: TensorFlow's environment defaults, the user's values win."""
import os
import subprocess
import sys

import pytest

from gancli import tfenv


@pytest.mark.parametrize("machine, want", [("x86_64", "1"), ("AMD64", "1"), ("aarch64", None)])
def test_onednn_on_by_default_on_x86_only(monkeypatch, machine, want):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(tfenv.platform, "machine", lambda: machine)
    tfenv.configure()
    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") == want
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"]


def test_user_setting_wins(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.setattr(tfenv.platform, "machine", lambda: "x86_64")
    tfenv.configure()
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"


def _onednn_in_child(env_value):
    """Whether TensorFlow runs its oneDNN kernels in a fresh interpreter that imports
    gancli first, with TF_ENABLE_ONEDNN_OPTS unset (None) or set; and the machine."""
    code = ("import platform, gancli\n"
            "from tensorflow.python.util import _pywrap_util_port as port\n"
            "print(port.IsMklEnabled(), platform.machine())")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=120).stdout.split()
    return out[0] == "True", out[1].lower()


@pytest.mark.slow
def test_importing_gancli_turns_onednn_on_before_tensorflow_loads():
    on, machine = _onednn_in_child(None)
    if machine in ("x86_64", "amd64"):
        assert on
    assert _onednn_in_child("0")[0] is False
