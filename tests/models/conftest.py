import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # Two intra-op threads on a shared 2-core machine spin against each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
