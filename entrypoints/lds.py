"""Entry point `lds`: score an attribution run by the LDS against the study's datamodel runs.

Output: `lds.alpha_<α>` with its 95% CI on an `lds` run and on the attribution run.
"""

import argparse

from diffusion_credit import store
from diffusion_credit.cli import run_main
from diffusion_credit.lds_runs import log_lds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attribution-run", required=True, help="Run id of an attribution run.")
    args = parser.parse_args()
    store.configure()
    log_lds(args.attribution_run)


if __name__ == "__main__":
    run_main(main)
