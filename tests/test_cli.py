"""How entry points report: warnings as log lines, bad numbers as one-line errors."""

import subprocess
import sys

import pytest

from diffusion_credit.cli import parse_int, parse_number
from diffusion_credit.errors import InputError


def test_warning_becomes_log_line(tmp_path):
    # A script file, so that Python could print the warning's source line.
    script = tmp_path / "warn.py"
    script.write_text(
        "import warnings\nfrom diffusion_credit.cli import setup_logging\nsetup_logging()\nwarnings.warn('std undefined', RuntimeWarning)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "WARNING py.warnings: RuntimeWarning: std undefined" in result.stderr
    assert f"({script}:4)" in result.stderr
    assert "warnings.warn(" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_numbers_parse():
    assert parse_int("12", "--trials") == 12
    assert parse_number("0.25", "--alphas") == 0.25


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_int("1.5", "--seed"), "--seed must be an integer, got '1.5'."),
        (lambda: parse_number("soon", "--budget", unit="seconds"), "--budget must be a number of seconds, got 'soon'."),
    ],
)
def test_bad_numbers_name_option(call, message):
    with pytest.raises(InputError) as raised:
        call()
    assert str(raised.value) == message


def test_interrupt_exits_without_traceback(tmp_path):
    script = tmp_path / "interrupted.py"
    script.write_text(
        "from diffusion_credit.cli import run_main\n"
        "def main():\n"
        "    raise KeyboardInterrupt\n"
        "run_main(main)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 130
    assert "Interrupted. Finished runs are kept" in result.stderr
    assert "Traceback" not in result.stderr
