"""``python -m fgsam``: the same as the ``fgsam`` command (used under ``torchrun``)."""

import sys

from fgsam.cli import main

if __name__ == "__main__":
    sys.exit(main())
