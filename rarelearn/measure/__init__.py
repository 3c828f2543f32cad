"""Measurements of one model: per-task gradients, interference, neuron allocation."""
