"""gancli info: what gancli finds on this machine -- versions, the devices TensorFlow
sees, CUDA / cuDNN, oneDNN, CPU features -- and what `--strategy/--precision/--jit
auto` pick here and why, from the resolution functions the train commands use
(`--precision auto`: training.precision.resolve -- fp16 on GPUs with tensor cores,
bf16 on CPUs with native bfloat16, else fp32)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys

NAME = "info"
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
_CUDA_LIBS = re.compile(r"/(lib(?:cuda|cudart|cudnn|cublas)\.so[.\d]*)$")


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="versions, devices, CUDA, CPU features and what the auto "
                       "settings pick here",
                       description="Print gancli's, Python's, TensorFlow's, Keras' and "
                       "NumPy's versions, the devices TensorFlow sees, whether TensorFlow was "
                       "built with CUDA and loaded the CUDA/cuDNN libraries, whether oneDNN is "
                       "on, the CPU's vector and bfloat16 features, and what --strategy auto, "
                       "--precision auto (fp16 on GPUs with tensor cores, bf16 on CPUs with "
                       "native bfloat16, else fp32) and --jit auto resolve to on this "
                       "machine, and why. "
                       "Says so when nvidia-smi lists GPUs that TensorFlow cannot use.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = collect()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def collect() -> dict:
    """The report: {section: {item: value}}, JSON-ready."""
    from gancli import __version__, tfenv

    tfenv.import_quietly()
    import keras
    import numpy
    import tensorflow as tf

    from gancli.training import distribute, precision

    gpus = tf.config.list_physical_devices("GPU")
    build = tf.sysconfig.get_build_info()
    smi = tfenv.nvidia_smi_gpus()
    unseen = tfenv.gpus_unseen()
    if unseen:
        diagnosis = "warning: " + unseen
    elif gpus:
        diagnosis = f"training runs on the GPU{'s' if len(gpus) > 1 else ''}"
    else:
        diagnosis = "no GPU: training runs on the CPU"
    flags = precision.cpu_flags()
    strategy, strategy_why = distribute.resolve_strategy("auto")
    prec, prec_why = precision.resolve("auto")
    distributed = strategy != "one_device"
    jit = {cmd: distribute.resolve_jit("auto", distributed, on_cpu)
           for cmd, on_cpu in (("train-dist", True), ("train-mnist", False))}
    return {
        "versions": {
            "gancli": __version__,
            "python": f"{platform.python_version()} ({sys.executable})",
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": numpy.__version__,
        },
        "devices": {
            "tensorflow sees": [d.name.split("physical_device:")[-1]
                                for d in tf.config.list_physical_devices()],
            "gpus": [_describe_gpu(tf, g) for g in gpus],
            "built with cuda": bool(build.get("is_cuda_build")),
            "cuda / cudnn (build)": (f"{build.get('cuda_version', '?')} / "
                                     f"{build.get('cudnn_version', '?')}"
                                     if build.get("is_cuda_build") else "not a CUDA build"),
            "cuda libraries loaded": _loaded_cuda_libs(),
            "nvidia-smi": "not on PATH (or failed)" if smi is None else smi,
            "gpu memory": "grow (default of every command; --gpu_memory all reserves it all)",
            "diagnosis": diagnosis,
        },
        "cpu": {
            "machine": f"{platform.machine()}, {os.cpu_count()} logical cores",
            "onednn": _onednn(),
            **{f: (f in flags if flags else None) for f in CPU_FEATURES},
        },
        "auto picks": {
            "--strategy auto": {"pick": strategy, "why": strategy_why},
            "--precision auto": {"pick": prec, "why": prec_why},
            **{f"--jit auto ({cmd})": {"pick": "on" if on else "off", "why": why}
               for cmd, (on, why) in jit.items()},
        },
    }


def _describe_gpu(tf, gpu) -> str:
    details = tf.config.experimental.get_device_details(gpu)
    cap = details.get("compute_capability")
    name = gpu.name.split("physical_device:")[-1]
    return f"{name} {details.get('device_name', '')}".strip() + (
        f" (compute capability {cap[0]}.{cap[1]})" if cap else "")


def _loaded_cuda_libs() -> list[str] | None:
    """The CUDA / cuDNN / cuBLAS libraries mapped into this process (Linux), or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            maps = fh.read()
    except OSError:
        return None
    return sorted({m.group(1) for line in maps.splitlines()
                   if (m := _CUDA_LIBS.search(line.strip()))})


def _onednn() -> str:
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is None:
        return "TensorFlow's default (TF_ENABLE_ONEDNN_OPTS unset: gancli sets it only on x86-64)"
    on = value.strip().lower() in ("1", "true")
    return f"{'on' if on else 'off'} (TF_ENABLE_ONEDNN_OPTS={value}; gancli sets 1 on x86-64 " \
        "unless it is set)"


def _show(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    if isinstance(value, dict):
        return f"{value['pick']:<10} {value['why']}"
    return str(value)


def render(report: dict) -> str:
    """Plain text: one block per section, items in an aligned column."""
    width = max(len(k) for items in report.values() for k in items)
    blocks = []
    for section, items in report.items():
        blocks.append("\n".join([section] + [f"  {k:<{width}}  {_show(v)}"
                                             for k, v in items.items()]))
    return "\n\n".join(blocks)
