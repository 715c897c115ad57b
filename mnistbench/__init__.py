"""mnistbench: run, record and rank MNIST benchmarks (maximum accuracy, minimum labels, minimum parameters)."""

__version__ = "0.1.0"
