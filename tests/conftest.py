import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# TensorFlow's environment as the CLI sets it (gancli.tfenv: oneDNN on x86), before any
# test module imports keras or tensorflow
import gancli  # noqa: E402,F401
