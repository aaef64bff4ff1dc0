"""Side-by-side timings of tinygrad_lm and PyTorch: ``python -m benchmarks.run [names] --vs torch``."""
