"""Entry point `attribute`: the whole flow, from images to credit (and LDS when datamodels exist).

Input: a study config and optionally another data path. Output: a parent
`attribute` run with nested dataset, train, prune, coalition and attribution
runs; `attribution.csv` on the attribution run.
"""

from diffusion_credit.cli import load_study, run_main, study_parser
from diffusion_credit.pipeline import run_attribute
from diffusion_credit.study import Study


def main() -> None:
    parser = study_parser(__doc__.splitlines()[0])
    parser.add_argument("--num-coalitions", default="", help="Overrides valuation.num_coalitions.")
    parser.add_argument("--finetune-steps", default="", help="Overrides finetune.steps (coalition fine-tuning).")
    args = parser.parse_args()
    config = load_study(
        args.config,
        data=args.data,
        overrides={"valuation.num_coalitions": args.num_coalitions, "finetune.steps": args.finetune_steps},
    )
    study = Study(config)
    study.tracking()
    outcome = run_attribute(study)

    print(f"attribution run {outcome.attribution_run_id}")
    for alpha, result in sorted(outcome.lds.items()):
        print(f"α = {alpha:g}: {result}")


if __name__ == "__main__":
    run_main(main)
