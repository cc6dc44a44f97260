"""Entry point `baselines`: not implemented yet."""

import sys

if __name__ == "__main__":
    sys.exit("The `baselines` entry point is not implemented yet; see the README's limits.")
