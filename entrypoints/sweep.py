"""Entry point `sweep`: not implemented yet."""

import sys

if __name__ == "__main__":
    sys.exit("The `sweep` entry point is not implemented yet; see the README's limits.")
