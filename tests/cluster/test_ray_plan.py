"""``separate --ray --device``: how many workers, on what, with what share of a GPU (no cluster started)."""

from __future__ import annotations

import pytest

from vocalsep.cluster.ray_batch import WorkerPlan, cluster_device, plan_workers
from vocalsep.errors import ConfigError


def test_the_cpu_plan_is_todays() -> None:
    assert plan_workers("cpu", {"CPU": 8.0, "GPU": 2.0}, threads=2, workers=None) == WorkerPlan("cpu", 4)
    assert plan_workers("cpu", {"CPU": 1.0}, threads=2, workers=None) == WorkerPlan("cpu", 1)
    assert plan_workers("auto", {"CPU": 8.0}, threads=1, workers=3) == WorkerPlan("cpu", 3)


def test_gpu_workers_get_a_gpu_each_or_an_equal_share() -> None:
    assert plan_workers("cuda", {"CPU": 16.0, "GPU": 2.0}, threads=1, workers=None) == WorkerPlan("cuda", 2, 1.0)
    assert plan_workers("auto", {"CPU": 16.0, "GPU": 2.0}, threads=1, workers=2) == WorkerPlan("cuda", 2, 1.0)
    plan = plan_workers("cuda", {"CPU": 16.0, "GPU": 2.0}, threads=1, workers=5)
    assert plan.count == 5 and plan.gpus == pytest.approx(1 / 3)  # three on each GPU: all five fit


def test_a_cluster_without_gpus_or_a_gpu_number_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^the Ray cluster has no GPU \(--device cuda\)$"):
        plan_workers("cuda", {"CPU": 4.0}, threads=1, workers=None)
    with pytest.raises(ConfigError, match=r"^with --ray, Ray gives each worker its GPU: use --device cuda or auto, not cuda:0$"):
        cluster_device("cuda:0")
    with pytest.raises(ConfigError, match=r"^unknown device 'gpu'"):
        cluster_device("gpu")
    assert cluster_device("CUDA") == "cuda"
