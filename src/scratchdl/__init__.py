"""scratchdl: deep learning from first principles, proven equal to PyTorch."""

from scratchdl.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "__version__"]
