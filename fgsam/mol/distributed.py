"""The processes of a ``torchrun`` launch (from the shared layer, under their old path)."""

from fgsam._distributed import (
    DistributedContext,
    init_distributed,
    launched_distributed,
    shutdown_distributed,
)

__all__ = ["DistributedContext", "init_distributed", "launched_distributed",
           "shutdown_distributed"]
