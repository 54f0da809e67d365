"""SRA-Seg engine: I/O, datasets, model, training, inference, metrics, project store and CLI. Imports no Qt."""

__version__ = "0.1.0"
