"""Entry point `shapley`: solve an estimator over the coalition runs already in the store.

Reads the FINISHED coalition runs of `study` and `method` (the newest recipe,
unless a config pins it), and logs an attribution run with
`attribution.csv` (`contributor,score,std`) and a bar chart.
"""

import argparse

from diffusion_credit import store
from diffusion_credit.cli import load_study, optional, run_main
from diffusion_credit.shapley import solve_from_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True, help="Study name (the config's `name`).")
    parser.add_argument("--method", default="sft", help="Coalition method whose runs form the game: sft, ft or retrain.")
    parser.add_argument(
        "--property",
        default="",
        help="Property the coalition runs measured: inception_score, cluster_entropy or aesthetic_score. "
        "Default: the config's property.name, or inception_score without a config.",
    )
    parser.add_argument("--estimator", default="kernelshap", help="kernelshap, exact, banzhaf or loo.")
    parser.add_argument("--config", default="", help="Optional study config: pins the recipe and the tracking URI.")
    args = parser.parse_args()

    config = load_study(args.config) if optional(args.config) else None
    store.configure(config.tracking.uri if config else None)
    property_name = optional(args.property)
    if property_name is None:
        property_name = config.property.name if config else "inception_score"
    run_id = solve_from_store(args.study, args.method, property_name, args.estimator, config=config)
    print(f"attribution run {run_id}")


if __name__ == "__main__":
    run_main(main)
