"""Entry point `dataset`: validate a contributor dataset and log it.

Output: a `dataset` run with `contributors.json`, `counts.json`, the data
digest and a contact sheet.
"""

from diffusion_credit import stages
from diffusion_credit.cli import load_study, run_main, study_parser
from diffusion_credit.study import Study


def main() -> None:
    args = study_parser(__doc__.splitlines()[0]).parse_args()
    study = Study(load_study(args.config, data=args.data))
    study.tracking()
    stages.log_dataset(study, nested=False)


if __name__ == "__main__":
    run_main(main)
