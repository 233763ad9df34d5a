"""``python -m worker`` runs the command-line interface."""
import sys

from worker.cli import main

sys.exit(main())
