"""--precision: the Keras dtype policy the networks are built with.

fp32 is plain float32 everywhere. bf16 / fp16 build the networks under Keras'
`mixed_bfloat16` / `mixed_float16` policy: weights stay float32, layers compute in
16 bits. The layers that form outputs and statistics are pinned to float32 by the
builders (G's last layer, D's logit, train-dist's input scaling and statistic
layers), so samples, logits and losses are float32 in every mode. fp16 also wraps
both optimizers in `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling):
the trainer differentiates `scale_loss(loss)` and the optimizer's `apply` divides
the gradients back, skipping steps whose scaled gradients overflow.

`auto` follows the hardware (`resolve`, which `gancli info` shows too): fp16 on GPUs
of compute capability 7.0 or more (tensor cores), fp32 on older GPUs; without a GPU,
bf16 on CPUs with native bfloat16 arithmetic (/proc/cpuinfo flags avx512_bf16 or
amx_bf16: issue 15 measured bf16 ~1.4x faster than fp32 on a 2-core AMD EPYC with
AVX512-BF16), else fp32: without them oneDNN emulates bf16, and the seed-classic
and dcgan steps ran 8-14x slower than in fp32 on the AVX2 machine gancli is
benchmarked on (benchmarks/bench_train.py --precision fp32,bf16).

The weights and optimizer slots are float32 in every mode, so a checkpoint restores
into any precision (`checkpoint.restore`): only fp16's loss-scale variables differ,
and `switch_note` says what happened to them.
"""
from __future__ import annotations

import contextlib

from gancli.config import PRECISIONS

POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (empty when /proc/cpuinfo is unreadable)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _gpu_capabilities() -> list[tuple[int, int]]:
    import tensorflow as tf

    caps = []
    for gpu in tf.config.list_physical_devices("GPU"):
        cap = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        caps.append(tuple(cap) if cap else (0, 0))
    return caps


def resolve(setting: str) -> tuple[str, str]:
    """--precision SETTING -> (fp32 | bf16 | fp16, why, for the log and config.yaml)."""
    if setting not in PRECISIONS:
        raise ValueError(f"unknown precision {setting!r}")
    if setting != "auto":
        return setting, "as set"
    caps = _gpu_capabilities()
    if caps:
        shown = ", ".join(f"{a}.{b}" for a, b in caps)
        if min(caps) >= (7, 0):
            return "fp16", f"auto: GPU compute capability {shown} >= 7.0 (tensor cores)"
        return "fp32", f"auto: GPU compute capability {shown} < 7.0 (no tensor cores)"
    native = sorted(set(BF16_CPU_FLAGS) & cpu_flags())
    if native:
        return "bf16", f"auto: no GPU; the CPU computes bfloat16 natively ({', '.join(native)})"
    return "fp32", ("auto: no GPU, and the CPU lacks avx512_bf16/amx_bf16 (bf16 would be "
                    "emulated, several times slower)")


def switch_note(saved: str | None, now: str) -> str:
    """What a resume did to a checkpoint saved in precision SAVED (None: not recorded)
    when the run continues in NOW; "" when nothing changed."""
    if saved is None or saved == now:
        return ""
    if now == "fp16":
        return (f"{saved} checkpoint restored into fp16: float32 weights and optimizer state "
                "as saved, the loss scale starts fresh")
    if saved == "fp16":
        return (f"fp16 checkpoint restored into {now}: float32 weights and optimizer state as "
                "saved, its loss scale dropped")
    return f"{saved} checkpoint restored into {now}: the same float32 weights and optimizer state"


@contextlib.contextmanager
def policy(precision: str):
    """Build models under PRECISION's Keras dtype policy; the old policy comes back."""
    import keras

    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def of_model(model) -> str:
    """The precision a model was built with, from its dtype policy (fp16 needs loss
    scaling; anything not 16-bit counts as fp32)."""
    compute = model.dtype_policy.compute_dtype
    return {"float16": "fp16", "bfloat16": "bf16"}.get(compute, "fp32")


def wrap_optimizer(opt, precision: str):
    """fp16: dynamic loss scaling around `opt`; other precisions: `opt` itself."""
    if precision != "fp16":
        return opt
    import keras

    return keras.optimizers.LossScaleOptimizer(opt)
