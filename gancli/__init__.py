"""gancli: a command-line GAN trainer on TensorFlow / Keras 3."""
__version__ = "0.1.0"
