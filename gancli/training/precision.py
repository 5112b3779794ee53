"""--precision: the Keras dtype policy the networks are built with.

fp32 is plain float32 everywhere. bf16 / fp16 build the networks under Keras'
`mixed_bfloat16` / `mixed_float16` policy: weights stay float32, layers compute in
16 bits. The layers that form outputs and statistics are pinned to float32 by the
builders (G's last layer, D's logit, train-dist's input scaling and statistic
layers), so samples, logits and losses are float32 in every mode. fp16 also wraps
both optimizers in `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling):
the trainer differentiates `scale_loss(loss)` and the optimizer's `apply` divides
the gradients back, skipping steps whose scaled gradients overflow.

`auto` picks fp16 on GPUs of compute capability 7.0 or more (tensor cores) and
fp32 everywhere else, CPUs included. bf16 is not picked on CPU: on the 2-core
machine gancli is benchmarked on (AMD EPYC, AVX2, no avx512_bf16/amx_bf16), oneDNN
emulates bf16 and the seed-classic and dcgan training steps ran 4-8x slower than
in fp32 (benchmarks/bench_train.py --precision fp32,bf16).
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
    """--precision SETTING -> (fp32 | bf16 | fp16, why, for the log)."""
    if setting not in PRECISIONS:
        raise ValueError(f"unknown precision {setting!r}")
    if setting != "auto":
        return setting, "as set"
    caps = _gpu_capabilities()
    if caps:
        shown = ", ".join(f"{a}.{b}" for a, b in caps)
        if min(caps) >= (7, 0):
            return "fp16", f"auto: GPU compute capability {shown} >= 7.0"
        return "fp32", f"auto: GPU compute capability {shown} < 7.0"
    native = sorted(set(BF16_CPU_FLAGS) & cpu_flags())
    has = f"CPU reports {', '.join(native)}" if native else \
        "CPU without avx512_bf16/amx_bf16"
    return "fp32", (f"auto: {has}; bf16 measured slower than fp32 on CPU for these "
                    "models, so auto keeps fp32 there (try --precision bf16 on CPUs with AMX)")


def describe(setting: str, resolved: str) -> str:
    """The log line: 'precision fp32 (auto: ...)'."""
    why = resolve(setting)[1] if setting == "auto" else "as set"
    return f"precision {resolved} ({why})"


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
