"""imxbench: on-device benchmarking of TFLite models on NXP i.MX boards."""

__version__ = "0.1.0"
