"""Training, prediction and everything that loads or describes a model."""
