"""One thread setting for torch and ONNX Runtime."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vocalsep.errors import ConfigError
from vocalsep.threads import cpu_threads, set_threads


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_a_thread_count_below_one_or_not_whole_is_refused(bad) -> None:
    with pytest.raises(ConfigError, match="--threads must be at least 1"):
        set_threads(bad)


def test_the_setting_reaches_torch_loaded_before_or_after() -> None:
    code = ("import sys; from vocalsep.threads import set_threads, cpu_threads\n"
            "set_threads(1); assert 'torch' not in sys.modules and cpu_threads() == 1\n"
            "import torch; assert torch.get_num_threads() == 1, torch.get_num_threads()\n"
            "set_threads(2); assert torch.get_num_threads() == 2 and cpu_threads() == 2\n"
            "print('ok')")
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_without_a_setting_torchs_own_count_is_used(monkeypatch) -> None:
    import torch

    monkeypatch.setattr("vocalsep.threads._chosen", None)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # a library user's own choice
        assert cpu_threads() == 1
    finally:
        torch.set_num_threads(before)
