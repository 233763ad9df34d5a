"""``python -m worker`` runs the command-line interface."""
import sys

from worker.cli import main

if __name__ == "__main__":  # not when a helper process (certificate drawing) imports it as __mp_main__
    sys.exit(main())
