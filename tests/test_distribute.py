"""--strategy on CPU: MirroredStrategy over 2 logical CPUs and MultiWorkerMirroredStrategy
with 2 local workers give the loss trajectory of one device with the same global batch;
the chief alone writes the run folder. The GPU defaults -- mirrored, the cdcgan preset
(BatchNorm, Dropout, EMA, projection D, reuse of the fake batch), fp16 and bf16 --
train, checkpoint, resume and export; train-mnist trains on two local workers. The
scripts in scripts/ start several of these runs, as written (GANCLI="python -m
gancli"). Every run is a subprocess: logical devices and the multi-worker runtime
must be configured before TensorFlow initializes."""
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
TIMEOUT = 900  # only a guard against hangs
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
# the cdcgan preset (the default) on 12x12 digits, as small as it goes
CDCGAN = ["--batch_size", "8", "--latent_dim", "8", "--grid_size", "4", "--sample_every", "2",
          "--checkpoint_every", "2", "--seed", "5", "--quiet"]


def launch(command, out, *extra, env=None):
    """Start `gancli COMMAND --out OUT ...`; its output goes to a file (no pipe to fill)."""
    return _start([sys.executable, "-m", "gancli", command, "--out", str(out), *extra], env)


def script(name, out, *extra, env=None):
    """Start scripts/NAME OUT ... as a user would, with gancli run from this checkout."""
    env = dict(env or {}, GANCLI=f"{sys.executable} -m gancli")
    return _start([str(SCRIPTS / name), str(out), *extra], env)


def _start(argv, env):
    env = dict(os.environ, **(env or {}))
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
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
        stop(procs)
    return results


def stop(procs):
    """End whatever still runs (SIGTERM first: train_multiworker.sh passes it on to its
    workers) and close the logs."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.log.close()


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


def free_port_pair():
    """A port P such that P and P + 1 are free (train_multiworker.sh's LOCAL=2)."""
    for base in free_ports(20):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 1))
            return base
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every subprocess run of this module, started together (they wait on each other
    or on the CPU, so this takes about as long as the slowest): -> (folder, results)."""
    base = tmp_path_factory.mktemp("distribute")
    two_cpus = {"GANCLI_LOGICAL_CPUS": "2"}
    # --jit off: strategies run without XLA, so the one-device baseline does too
    procs = {"one_device": script("train_one_gpu.sh", base / "one", *ARGS, "--quiet",
                                  "--jit", "off", env={"GANCLI_COMMAND": "train-dist"}),
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
    # the GPU defaults on 2 logical CPUs: 2 steps, then resumed to 4 in the recorded
    # precision: fp16 by the same script, bf16 by train-mnist on two local workers
    digits = ["--data", str(base / "tiny.npz"), *CDCGAN]
    for prec in ("fp16", "bf16"):
        procs[f"cdcgan_{prec}"] = script("train_multi_gpu.sh", base / f"cdcgan_{prec}", *digits,
                                         "--steps", "2", "--precision", prec, env=two_cpus)
    try:
        first = [f"cdcgan_{prec}" for prec in ("fp16", "bf16")]
        results = dict(zip(first, finish([procs.pop(name) for name in first])))
        resume = ["--steps", "4", "--quiet"]
        procs["cdcgan_fp16_resumed"] = script(
            "train_multi_gpu.sh", base / "cdcgan_fp16", "--resume", base / "cdcgan_fp16",
            *resume, env=two_cpus)
        (base / "mnist-worker-tmp").mkdir()
        procs["cdcgan_bf16_resumed"] = script(
            "train_multiworker.sh", base / "cdcgan_bf16", "--resume", base / "cdcgan_bf16",
            *resume, env={"LOCAL": "2", "BASE_PORT": str(free_port_pair()),
                          "TMPDIR": str(base / "mnist-worker-tmp")})
        results.update(zip(procs, finish(list(procs.values()))))
    finally:
        stop([p for p in procs.values() if not p.log.closed])
    return base, results


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


@pytest.mark.slow
@pytest.mark.parametrize("prec", ["fp16", "bf16"])
def test_gpu_defaults_mirrored_train_checkpoint_resume_export(runs, prec):
    """scripts/train_multi_gpu.sh with the cdcgan preset in fp16 / bf16 on 2 logical
    CPUs: 2 steps, resumed to 4 in the recorded precision (bf16 on two local workers),
    exported files that plain Keras loads and runs."""
    import keras
    import numpy as np

    base, results = runs
    for name in (f"cdcgan_{prec}", f"cdcgan_{prec}_resumed"):
        code, text = results[name]
        assert code == 0, text
    out = base / f"cdcgan_{prec}"
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "strategy mirrored: 2 replicas (CPU:0, CPU:1)" in log
    assert f"precision {prec} (as set)" in log
    assert f"precision {prec} (the run's, from its config.yaml)" in log
    assert "resumed from checkpoints/ckpt-00000002.npz at step 2\n" in log
    rows = read_csv(out / "metrics.csv")[1]
    assert [r["step"] for r in rows] == ["2", "4"]
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("d_loss", "g_loss"))
    cfg = (out / "config.yaml").read_text(encoding="utf-8")
    assert f"\nprecision: {prec}\n" in cfg and "\nconditional: projection\n" in cfg
    assert "\nema: 0.999\n" in cfg and "\nreuse_fake: true\n" in cfg
    for step in (2, 4):
        with np.load(out / "checkpoints" / f"ckpt-{step:08d}.npz") as z:
            meta = json.loads(bytes(z["__meta__"]).decode())
            keys = set(z.files)
        assert meta["precision"] == prec and meta["step"] == step
        assert any("/loss_scale/" in k for k in keys) == (prec == "fp16")
        assert any(k.startswith("G/bn") for k in keys) and "G_ema/image/kernel" in keys
    G = keras.models.load_model(out / "generator.keras", compile=False)
    z = np.random.default_rng(0).uniform(-1, 1, (3, 8)).astype(np.float32)
    images = G([z, np.array([0, 5, 9])]).numpy()
    assert images.shape == (3, 12, 12, 1) and images.dtype == np.float32
    assert np.isfinite(images).all()
    assert images.min() >= -1 and images.max() <= 1


@pytest.mark.slow
def test_train_mnist_multiworker_two_local_workers_by_script(runs):
    """scripts/train_multiworker.sh with LOCAL=2 resumes the bf16 cdcgan run on two
    workers on 127.0.0.1: the chief writes the run, the other cleans its temp folder."""
    base, results = runs
    code, text = results["cdcgan_bf16_resumed"]
    assert code == 0, text
    out = base / "cdcgan_bf16"
    log = (out / "log.txt").read_text(encoding="utf-8")
    later = log[log.index("strategy multiworker"):]  # the resumed part
    assert later.startswith("strategy multiworker: 2 replicas (this is worker 0, the chief")
    assert "4 per replica" in later.splitlines()[0] and "worker 1" not in log
    assert "resumed from checkpoints/ckpt-00000002.npz at step 2\n" in later
    assert "step 4/4" in later
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "ckpt-00000002.npz", "ckpt-00000004.npz"]
    assert (out / "generator.keras").is_file()
    assert list((base / "mnist-worker-tmp").iterdir()) == []


@pytest.mark.parametrize("name", ["train_one_gpu.sh", "train_multi_gpu.sh",
                                  "train_multiworker.sh"])
def test_scripts_without_a_run_folder_print_usage(name):
    done = subprocess.run([str(SCRIPTS / name)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.lstrip().startswith("Train on") and f"scripts/{name} " in done.stderr


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
