"""The torch layer's thread pin: one intra-op thread for CPU runs (or the cluster task's count), none for GPU runs."""
import pytest

torch = pytest.importorskip("torch")

from sims.engine import torch_layer  # noqa: E402
from sims.engine.errors import ConfigError  # noqa: E402


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cpu_runs_are_pinned_to_one_thread_or_the_tasks_count(threads, monkeypatch):
    monkeypatch.delenv(torch_layer.THREADS_ENV, raising=False)
    torch.set_num_threads(2)
    torch_layer.single_thread()
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)
    torch_layer.single_thread("cpu")
    assert torch.get_num_threads() == 1
    monkeypatch.setenv(torch_layer.THREADS_ENV, "2")
    torch_layer.single_thread(torch.device("cpu"))
    assert torch.get_num_threads() == 2


def test_a_gpu_run_keeps_torchs_thread_pool(threads, monkeypatch):
    monkeypatch.delenv(torch_layer.THREADS_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)   # resolve_device then accepts cuda
    torch.set_num_threads(2)
    torch_layer.single_thread(torch.device("cuda"))
    torch_layer.single_thread("auto")
    assert torch.get_num_threads() == 2


def test_cuda_without_a_gpu_is_one_sentence(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device is 'cuda'"):
        torch_layer.single_thread("cuda")
