"""--strategy on CPU: MirroredStrategy over 2 logical CPUs and MultiWorkerMirroredStrategy
with 2 local workers give the loss trajectory of one device with the same global batch;
the chief alone writes the run folder. Every run is a subprocess: logical devices and
the multi-worker runtime must be configured before TensorFlow initializes."""
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import assert_one_line_error, read_csv

from gancli import cli, cluster
from gancli.errors import ConfigError

# seed-normal with small nets; no BatchNorm or Dropout, so replicas match one device
ARGS = ["--steps", "40", "--sample_every", "10", "--checkpoint_every", "20", "--seed", "7",
        "--batch_size", "16", "--vector_len", "8", "--latent_dim", "8", "--g_hidden", "16,16",
        "--d_hidden", "16,16", "--eval_samples", "200"]
COMPARED = ("d_loss", "g_loss", "d_real", "d_fake", "fake_mean", "fake_std", "w1")
TIMEOUT = 600  # only a guard against hangs: the whole module needs ~75 s of CPU time


def launch(command, out, *extra, env=None):
    """Start `gancli COMMAND --out OUT ...`; its output goes to a file (no pipe to fill)."""
    env = dict(os.environ, **(env or {}))
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-m", "gancli", command, "--out", str(out),
                             *extra], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log
    return proc


def finish(procs):
    """Wait for every process; -> [(exit code, output)]; kills them all on a timeout."""
    results = []
    try:
        for p in procs:
            p.wait(timeout=TIMEOUT)
            p.log.seek(0)
            results.append((p.returncode, p.log.read()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.log.close()
    return results


def trajectory(run):
    return [{k: float(r[k]) for k in ("step",) + COMPARED}
            for r in read_csv(Path(run, "metrics.csv"))[1]]


def assert_same_trajectory(a, b):
    assert [r["step"] for r in a] == [r["step"] for r in b] == [10, 20, 30, 40]
    for ra, rb in zip(a, b):
        for k in COMPARED:
            assert math.isclose(ra[k], rb[k], rel_tol=1e-4, abs_tol=1e-6), (ra["step"], k,
                                                                           ra[k], rb[k])


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every subprocess run of this module, started together (they wait on each other
    or on the CPU, so this takes about as long as the slowest): -> (folder, results)."""
    base = tmp_path_factory.mktemp("distribute")
    two_cpus = {"GANCLI_LOGICAL_CPUS": "2"}
    # --jit off: strategies run without XLA, so the one-device baseline does too
    procs = {"one_device": launch("train-dist", base / "one", *ARGS, "--quiet",
                                  "--strategy", "one_device", "--jit", "off"),
             "mirrored": launch("train-dist", base / "mirrored", *ARGS, "--quiet",
                                "--strategy", "mirrored", env=two_cpus),
             # the same pair with the G step on the D step's fake batch (_shared_step)
             "one_shared": launch("train-dist", base / "one_shared", *ARGS, "--quiet",
                                  "--reuse_fake", "--strategy", "one_device", "--jit", "off"),
             "mirrored_shared": launch("train-dist", base / "mirrored_shared", *ARGS,
                                       "--quiet", "--reuse_fake", "--strategy", "mirrored",
                                       env=two_cpus)}
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    (base / "worker-tmp").mkdir()
    for i in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
        # the same --out for both, as on a shared filesystem; worker 1 is not the chief
        procs[f"worker{i}"] = launch(
            "train-dist", base / "shared", *ARGS, "--strategy", "multiworker",
            env={"TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(base / "worker-tmp")})
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(base / "tiny.npz", x_train=rng.integers(0, 255, (64, 12, 12), dtype=np.uint8),
             y_train=rng.integers(0, 10, 64))
    mnist = ["--data", str(base / "tiny.npz"), "--steps", "2", "--latent_dim", "8",
             "--grid_size", "4", "--sample_every", "1", "--model", "wgan", "--loss", "wgan-gp",
             "--conditional", "--ema", "0.9", "--strategy", "mirrored", "--quiet",
             # the augmentation draws are sliced per replica too; R1 beside wgan-gp
             "--augment", "color,translation,cutout", "--augment_p", "0.5", "--r1", "1"]
    procs["mnist"] = launch("train-mnist", base / "mnist", *mnist, "--batch_size", "8",
                            env=two_cpus)
    procs["mnist_odd"] = launch("train-mnist", base / "odd", *mnist, "--batch_size", "7",
                                env=two_cpus)
    # the default (projection) pair with lazy R1: in a tf.cond, its embedding's gradient
    # failed the replicas' all-gather (shape mismatch); and ADA's p, adjusted per chunk
    procs["mnist_lazy"] = launch(
        "train-mnist", base / "lazy", "--data", str(base / "tiny.npz"), "--steps", "4",
        "--batch_size", "8", "--latent_dim", "8", "--grid_size", "4", "--sample_every", "2",
        "--loss", "hinge", "--r1", "1", "--r1_every", "2", "--augment", "color,cutout",
        "--ada_target", "0.6", "--strategy", "mirrored", "--quiet", env=two_cpus)
    return base, dict(zip(procs, finish(list(procs.values()))))


@pytest.mark.slow
def test_mirrored_two_logical_cpus_matches_one_device(runs):
    base, results = runs
    for name in ("one_device", "mirrored"):
        assert results[name][0] == 0, results[name][1]
    out = base / "mirrored"
    assert_same_trajectory(trajectory(base / "one"), trajectory(out))
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "strategy mirrored: 2 replicas (CPU:0, CPU:1)" in log
    assert "batch_size 16 is the global batch = 8 per replica" in log
    yaml_text = (out / "config.yaml").read_text(encoding="utf-8")
    assert "\nbatch_size: 16\n" in yaml_text and "\nstrategy: mirrored\n" in yaml_text
    assert yaml_text.endswith("batch_size 16 is the global batch = 8 per replica\n")
    assert (out / "checkpoints" / "ckpt-00000040.npz").is_file()
    assert (out / "generator.keras").is_file()


@pytest.mark.slow
def test_mirrored_shared_step_matches_one_device(runs):
    """--reuse_fake under MirroredStrategy: the shared D+G step on two replicas follows
    the one-device trajectory too, and differs from the fresh-noise run."""
    base, results = runs
    for name in ("one_shared", "mirrored_shared"):
        assert results[name][0] == 0, results[name][1]
    shared = trajectory(base / "one_shared")
    assert_same_trajectory(shared, trajectory(base / "mirrored_shared"))
    assert shared != trajectory(base / "one")


@pytest.mark.slow
def test_multiworker_two_local_workers_chief_writes(runs):
    base, results = runs
    (code0, text0), (code1, text1) = results["worker0"], results["worker1"]
    assert code0 == 0, text0
    assert code1 == 0, text1
    out = base / "shared"
    assert_same_trajectory(trajectory(base / "one"), trajectory(out))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "ckpt-00000020.npz", "ckpt-00000040.npz"]
    for name in ("generator.h5", "generator.keras", "generator.json", "discriminator.keras"):
        assert (out / name).is_file(), name
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "this is worker 0, the chief" in log and "worker 1" not in log
    assert "2 replicas" in log and "8 per replica" in log
    # worker 1 trained alongside, wrote into its own temporary folder and removed it
    assert "this is worker 1, not the chief" in text1
    assert "step 40/40" in text1
    assert list((base / "worker-tmp").iterdir()) == []


@pytest.mark.slow
def test_train_mnist_mirrored_runs_and_checks_the_split(runs):
    base, results = runs
    code, text = results["mnist"]
    assert code == 0, text
    head, rows = read_csv(base / "mnist" / "metrics.csv")
    assert head[-1] == "augment_p" and rows[-1]["augment_p"] == "0.5"
    assert [r["step"] for r in rows] == ["1", "2"]
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("d_loss", "g_loss"))
    assert (base / "mnist" / "generator.keras").is_file()
    code, text = results["mnist_lazy"]
    assert code == 0, text
    head, rows = read_csv(base / "lazy" / "metrics.csv")
    assert head[-2:] == ["augment_p", "ada_rt"] and len(rows) == 2
    assert float(rows[-1]["augment_p"]) != 1.0  # ADA moved p at step 4
    code, text = results["mnist_odd"]
    assert "Traceback" not in text
    err = "\n".join(ln for ln in text.splitlines() if ln.startswith("gancli "))
    assert_one_line_error(code, err, "batch_size 7", "2 replicas",
                          prefix="gancli train-mnist: error:")


# --- in-process: no TensorFlow runtime needed --------------------------------------------

@pytest.mark.parametrize("conf, chief", [
    (None, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker",
                                                                 "index": 0}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief",
                                                                 "index": 0}}, True),
])
def test_chief_rule(monkeypatch, conf, chief):
    if conf is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(conf))
    assert cluster.is_chief() is chief


def test_multiworker_without_tf_config_is_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = cli.main(["train-dist", "--out", str(tmp_path / "r"), "--strategy", "multiworker",
                     "--steps", "1", "--quiet"])
    assert_one_line_error(code, capsys.readouterr().err, "TF_CONFIG",
                          prefix="gancli train-dist: error:")
    assert not (tmp_path / "r").exists()  # refused before the run folder is made


def test_bad_tf_config_is_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    code = cli.main(["train-dist", "--out", str(tmp_path / "r"), "--strategy", "multiworker",
                     "--steps", "1", "--quiet"])
    assert_one_line_error(code, capsys.readouterr().err, "TF_CONFIG",
                          prefix="gancli train-dist: error:")


def test_jit_choice():
    from gancli.training import distribute

    assert distribute.use_jit("on", None) is True
    assert distribute.use_jit("off", None) is False
    assert distribute.use_jit("auto", None) is False  # CPU: XLA measured slower
    assert distribute.use_jit("auto", None, on_cpu=True) is True  # train-dist: 1.5x (XLA, batch 10)
    assert distribute.use_jit("auto", object()) is False
    assert distribute.use_jit("auto", object(), on_cpu=True) is False
    with pytest.raises(ConfigError, match="jit"):
        distribute.use_jit("on", object())


def test_help_says_batch_size_is_global():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
    for command in ("train-dist", "train-mnist"):
        text = " ".join(sub.choices[command].format_help().split())
        assert "the GLOBAL batch, split evenly over the replicas" in text
        assert "--strategy" in text and "one_device" in text and "multiworker" in text
