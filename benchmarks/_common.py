"""Shared by the benchmarks: the machine line, peak memory, the seeds' Keras training
pattern as a reference loop, interleaved timing and the FLOP count of a training step.

Figures from a shared 2-core machine are only comparable within one run: every
benchmark here alternates short timed rounds of the loops it compares in ONE
process and reports medians, so load that comes and goes hits all loops alike.
"""
from __future__ import annotations

import os
import platform
import re
import statistics
import time

from gancli import tfenv  # importing gancli sets TensorFlow's environment as the CLI
                          # does (tfenv.configure: oneDNN on x86), before TensorFlow loads

# Peak rates for the float32 / bfloat16 kernels the models use, GFLOP/s, as stated in
# issue 5 for its 2-core Xeon (AVX512-BF16), TensorFlow 2.21 + oneDNN. The benchmarks
# measure this machine's own with measure_peaks() and use those; these are the fallback.
PEAK = {"fp32": {"matmul": 190.0, "conv": 220.0}, "bf16": {"matmul": 385.0, "conv": 445.0}}


def measure_peaks(seconds: float = 1.0) -> dict:
    """This machine's best GFLOP/s for a large matmul (2048^3) and a large conv (batch
    64 of 14x14x128 -> 128, 5x5, the size of the models' biggest layers), in float32 and
    bfloat16: {"fp32": {"matmul": ..., "conv": ...}, "bf16": {...}}."""
    tfenv.import_quietly()  # no CUDA-probing chatter on stderr
    import tensorflow as tf

    out = {}
    for prec, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
        a = tf.random.uniform((2048, 2048), dtype=tf.float32)
        x = tf.random.uniform((64, 14, 14, 128), dtype=tf.float32)
        k = tf.random.uniform((5, 5, 128, 128), dtype=tf.float32)
        a, x, k = (tf.cast(t, dtype) for t in (a, x, k))
        cases = {"matmul": (lambda a=a: tf.matmul(a, a), 2 * 2048 ** 3),
                 "conv": (lambda x=x, k=k: tf.nn.conv2d(x, k, 1, "SAME"),
                          2 * 64 * 14 * 14 * 25 * 128 * 128)}
        out[prec] = {}
        for kind, (fn, flops) in cases.items():
            f = tf.function(fn)
            f().numpy()  # trace and warm up
            best, t_end = 0.0, time.perf_counter() + seconds
            while time.perf_counter() < t_end:
                t0 = time.perf_counter()
                f().numpy()
                best = max(best, flops / (time.perf_counter() - t0) / 1e9)
            out[prec][kind] = best
    return out


# --- the machine ------------------------------------------------------------------------

def _cpuinfo(key: str) -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine() -> str:
    """'CPU model, N cores (flags), TF x, Keras y, load average a b c'."""
    tfenv.import_quietly()
    import keras
    import tensorflow as tf

    flags = set(_cpuinfo("flags").split())
    bf16 = [f for f in ("avx512_bf16", "amx_bf16", "avx512_fp16") if f in flags]
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "no avx2"
    cpu = _cpuinfo("model name") or platform.processor() or platform.machine()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores ({isa}; 16-bit float flags: "
            f"{', '.join(bf16) if bf16 else 'none'}); TensorFlow {tf.__version__}, "
            f"Keras {keras.__version__}; load average {load}")


# --- memory ---------------------------------------------------------------------------

def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="utf-8") as fh:
        m = re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.M)
    return int(m.group(1)) / 1024 if m else float("nan")


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM), MiB."""
    return _status_mb("VmHWM")


# --- the seeds' loop --------------------------------------------------------------------

class SeedStyleLoop:
    """The seeds' Keras pattern (seed 000's Machine.train_each), on given models:
    fake = G.predict(z); D.train_on_batch([real; fake], [1; 0]); then the stacked
    GD = Sequential([G, D]), compiled with D.trainable = False, GD.train_on_batch(z, 1).
    Reals and noise are drawn with NumPy on the host, as the seeds did."""

    def __init__(self, G, D, real_fn, latent_dim: int, noise, batch_size: int,
                 d_opt, g_opt):
        import keras

        self.G, self.D, self.real_fn = G, D, real_fn
        self.latent_dim, self.noise, self.batch = latent_dim, noise, batch_size
        loss = keras.losses.BinaryCrossentropy(from_logits=True)  # our D ends in a logit
        self.D.compile(optimizer=d_opt, loss=loss)
        self.D.trainable = False
        self.GD = keras.Sequential([self.G, self.D])
        self.GD.compile(optimizer=g_opt, loss=loss)
        self.D.trainable = True
        self.rng = __import__("numpy").random.default_rng(0)

    def _z(self):
        from gancli.latents import draw_noise

        return draw_noise(self.rng, (self.batch, self.latent_dim), self.noise)

    def train(self, n: int) -> None:
        import numpy as np

        b = self.batch
        y_d = np.concatenate([np.ones((b, 1)), np.zeros((b, 1))]).astype("float32")
        y_g = np.ones((b, 1), "float32")
        for _ in range(n):
            real = self.real_fn(self.rng, b)
            fake = self.G.predict(self._z(), verbose=0)
            self.D.train_on_batch(np.concatenate([real, fake]), y_d)
            self.GD.train_on_batch(self._z(), y_g)


# --- timing -----------------------------------------------------------------------------

def _timed(loop, n: int) -> float:
    t0 = time.perf_counter()
    loop.train(n)
    return time.perf_counter() - t0


def interleave(loops: dict, rounds: int, seconds: float, log=None) -> dict:
    """Time `loops` ({name: object with train(n)}) in alternating rounds.

    Each loop first runs a warm-up (tracing, building predict/train functions), then
    calibration calls size its rounds to about `seconds`. Returns {name: {"rates":
    steps/s of each round, "steps/s": their median}}.
    """
    steps = {}
    for name, loop in loops.items():
        loop.train(2)                               # build / trace
        n, dt = 1, _timed(loop, 1)
        while dt < 0.2 and n < 1 << 16:             # calibrate on a call of >= 0.2 s
            n *= 4
            dt = _timed(loop, n)
        steps[name] = max(1, round(n / dt * seconds))
        if log:
            log(f"  {name}: {n / dt:.1f} steps/s in calibration; {steps[name]} per round")
    out = {name: {"rates": []} for name in loops}
    for _ in range(rounds):
        for name, loop in loops.items():
            out[name]["rates"].append(steps[name] / _timed(loop, steps[name]))
    for rec in out.values():
        rec["steps/s"] = statistics.median(rec["rates"])
    return out


def paired_ratios(rates: list[float], ref_rates: list[float]) -> tuple[float, float, float]:
    """(median, min, max) over rounds of rate / the reference's rate in the same round.
    A round and the reference's round next to it see nearly the same machine, so these
    ratios move less than the ratio of two medians when the load drifts."""
    ratios = [r / q for r, q in zip(rates, ref_rates)]
    return statistics.median(ratios), min(ratios), max(ratios)


# --- FLOPs ------------------------------------------------------------------------------

def step_flops(G, D, batch_size: int, n_critic: int = 1, n_gen: int = 1) -> dict:
    """FLOPs of one training step (n_critic D updates + n_gen G updates), by kind.

    From forward FLOPs per sample F_G, F_D (_flops.flops_by_kind: Dense, Conv
    layers from their shapes), counting a backward pass as 2 forwards (gradients for
    activations and weights) and 1 forward where only input gradients are needed:
      D update: G forward on b noise + D forward/backward on 2b  = b (F_G + 6 F_D)
      G update: G forward/backward, D forward/backward to its input = b (3 F_G + 2 F_D)
    Step = n_critic b (F_G + 6 F_D) + n_gen b (3 F_G + 2 F_D); for n_critic = n_gen = 1,
    b (4 F_G + 8 F_D). The seed-style loop is charged the same useful work (its
    GD.train_on_batch also computes D's weight gradients in Keras 3, not counted).
    """
    from _flops import flops_by_kind

    fg, fd = flops_by_kind(G), flops_by_kind(D)
    return {k: batch_size * (n_critic * (fg[k] + 6 * fd[k]) + n_gen * (3 * fg[k] + 2 * fd[k]))
            for k in fg}


def percent_of_peak(flops: dict, steps_per_s: float, peak: dict) -> float:
    """Achieved rate as % of the peak for this mix of matmul and conv FLOPs: the time
    the step would take with each kind at its peak over the time it took."""
    ideal = sum(flops[k] / (peak[k] * 1e9) for k in flops)
    return 100.0 * ideal * steps_per_s
