"""aonode: an AO-Core node in Python that speaks HyperBEAM's wire format."""

__version__ = "0.1.0"
