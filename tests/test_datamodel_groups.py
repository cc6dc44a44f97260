"""Grouping datamodel values into sets: incomplete sets are left out, and only a partly evaluated one is logged."""

import logging

from diffusion_credit import store
from diffusion_credit.datamodels import _group
from diffusion_credit.executors import CoalitionTask


def task(bits, set_index):
    tags = {store.TAG_DATAMODEL_ALPHA: "0.5", store.TAG_DATAMODEL_SET: str(set_index)}
    return CoalitionTask(bits, "retrain", tags=tags)


def test_incomplete_sets_left_out(caplog):
    tasks = [task("1100", 0), task("0011", 0), task("1010", 1), task("0101", 1), task("1001", 2), task("0110", 2)]
    values = [1.0, 2.0, 3.0, None, None, None]

    with caplog.at_level(logging.INFO, logger="diffusion_credit.datamodels"):
        sets = _group(tasks, values)

    assert len(sets[0.5]) == 1
    assert list(sets[0.5][0][1]) == [1.0, 2.0]
    messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert messages == ["Datamodel set 1 at alpha 0.5 has 1 of 2 coalitions; it is left out of the LDS"]
