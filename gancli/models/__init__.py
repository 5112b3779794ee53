"""Keras model builders. Discriminators end in a linear unit (a logit); the
losses apply any sigmoid themselves."""
