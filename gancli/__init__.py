"""gancli: a command-line GAN trainer on TensorFlow / Keras 3."""
from gancli import tfenv as _tfenv

_tfenv.configure()  # TensorFlow's environment defaults, before anything imports it

__version__ = "0.1.0"
