"""GPU set-up on a machine without GPUs: --gpu_memory (memory growth by default) on every
command that loads TensorFlow, and the one warning when nvidia-smi lists GPUs that
TensorFlow does not see (a fake nvidia-smi on PATH)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from error_cases import TINY

from gancli import cli, tfenv
from gancli.training import distribute

TF_COMMANDS = (["train-dist"], ["train-mnist"], ["generate", "--weights", "G"],
               ["eval", "G"], ["plot", "RUN"], ["train-classifier"])
WARNING = "nvidia-smi sees 2 GPU(s) but TensorFlow sees none"


def _parse(argv):
    return cli.build_parser().parse_args(argv)


@pytest.mark.parametrize("argv", TF_COMMANDS, ids=lambda a: a[0])
def test_gpu_memory_flag_on_every_tensorflow_command(argv):
    assert _parse(argv).gpu_memory == "grow"
    assert _parse([*argv, "--gpu_memory", "all"]).gpu_memory == "all"
    assert _parse([*argv, "--gpu-memory", "all"]).gpu_memory == "all"


def test_gpu_memory_rejects_other_values(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["generate", "--weights", "G", "--gpu_memory", "half"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid choice: 'half'" in err


class _FakeConfig:
    """tf.config with two fake GPUs: records set_memory_growth calls."""

    def __init__(self, tf, fail=False):
        self.calls, self.fail, self.tf = [], fail, tf

    def list_physical_devices(self, kind=None):
        return ["GPU:0", "GPU:1"] if kind == "GPU" else self.tf.config.list_physical_devices(kind)

    def set_memory_growth(self, gpu, on):
        if self.fail:
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        self.calls.append((gpu, on))


@pytest.fixture
def fake_gpus(monkeypatch):
    import tensorflow as tf

    fake = _FakeConfig(tf)
    monkeypatch.setattr(tf.config, "list_physical_devices", fake.list_physical_devices)
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", fake.set_memory_growth)
    yield fake
    tfenv.set_gpu_memory("grow")


def test_memory_growth_on_every_gpu_unless_all(fake_gpus):
    tfenv.set_gpu_memory("grow")
    assert fake_gpus.calls == [("GPU:0", True), ("GPU:1", True)]
    fake_gpus.calls.clear()
    tfenv.set_gpu_memory("all")
    assert fake_gpus.calls == [("GPU:0", False), ("GPU:1", False)]


def test_memory_growth_after_device_init_is_left_alone(fake_gpus):
    fake_gpus.fail = True
    tfenv.set_gpu_memory("all")  # TensorFlow refuses: no error, the first setting stays
    assert fake_gpus.calls == []


def test_memory_growth_without_gpus_is_a_no_op():
    import tensorflow as tf

    assert not tf.config.list_physical_devices("GPU")
    tfenv.set_gpu_memory("grow")
    tfenv.set_gpu_memory("all")
    tfenv.set_gpu_memory("grow")
    with pytest.raises(ValueError):
        tfenv.set_gpu_memory("some")


def test_train_dist_passes_gpu_memory_before_the_strategy(tmp_path, monkeypatch):
    order = []
    make_strategy = distribute.make_strategy
    monkeypatch.setattr(tfenv, "set_gpu_memory", lambda mode: order.append(mode))
    monkeypatch.setattr(distribute, "make_strategy",
                        lambda name: order.append("strategy") or make_strategy(name))
    code = cli.main(["train-dist", "--out", str(tmp_path / "run"), "--steps", "0",
                     "--gpu_memory", "all", *TINY])
    assert code == 0
    assert order == ["all", "strategy"]
    assert "gpu_memory" not in (tmp_path / "run" / "config.yaml").read_text()  # not a run setting


def test_generate_eval_plot_pass_gpu_memory(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert cli.main(["train-dist", "--out", str(run), "--steps", "2", "--sample_every", "2",
                     *TINY]) == 0
    seen = []
    monkeypatch.setattr(tfenv, "set_gpu_memory", seen.append)
    assert cli.main(["generate", "--weights", str(run), "--n", "20", "--seed", "1",
                     "--out", str(tmp_path / "g.png")]) == 0
    assert cli.main(["eval", str(run), "--n", "100", "--gpu_memory", "all"]) == 0
    assert cli.main(["plot", str(run), "--gpu-memory", "all"]) == 0
    assert seen == ["grow", "all", "all"]


# --- nvidia-smi lists GPUs that TensorFlow does not see -------------------------------------

@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
    """A fake nvidia-smi listing two GPUs first on PATH; GPUs not hidden on purpose."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text('#!/bin/sh\n[ "$1" = "-L" ] || exit 9\n'
                   'echo "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0000)"\n'
                   'echo "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-0001)"\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return bin_dir


def test_gpus_unseen_reads_nvidia_smi(fake_nvidia_smi, monkeypatch):
    assert len(tfenv.nvidia_smi_gpus()) == 2
    assert tfenv.gpus_unseen().startswith(WARNING)
    for hidden in ("", "-1"):  # CUDA_VISIBLE_DEVICES hides the GPUs on purpose: no warning
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert tfenv.gpus_unseen() is None


def test_no_nvidia_smi_no_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert tfenv.nvidia_smi_gpus() is None
    assert tfenv.gpus_unseen() is None


def _warnings(err, command):
    lines = [line for line in err.splitlines() if WARNING in line]
    assert all(line.startswith(f"gancli {command}: warning: ") for line in lines), lines
    assert all("pip install 'gancli[gpu]'" in line for line in lines), lines
    return len(lines)


def test_train_dist_warns_once_and_trains(fake_nvidia_smi, tmp_path):
    """In a fresh process, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "gancli", "train-dist", "--out", str(out),
                           "--steps", "20", "--sample_every", "10", *TINY],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert _warnings(proc.stderr, "train-dist") == 1
    assert (out / "generator.keras").is_file()
    assert (out / "metrics.csv").read_text().count("\n") == 3  # header + 2 report rows


def test_train_mnist_and_train_classifier_warn_once(fake_nvidia_smi, tmp_path, monkeypatch,
                                                    capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=rng.integers(0, 256, (200, 28, 28), np.uint8),
             y_train=np.arange(200) % 10, x_test=rng.integers(0, 256, (50, 28, 28), np.uint8),
             y_test=np.arange(50) % 10)
    assert cli.main(["train-mnist", "--data", str(data), "--out", str(tmp_path / "run"),
                     "--steps", "0", "--batch_size", "16", "--quiet"]) == 0
    assert _warnings(capsys.readouterr().err, "train-mnist") == 1
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    assert cli.main(["train-classifier", "--data", str(data), "--epochs", "1"]) == 0
    assert _warnings(capsys.readouterr().err, "train-classifier") == 1
