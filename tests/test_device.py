"""``--device``: the words it takes, what each resolves to, and the one-line errors of every front end
where CUDA is missing (this machine has no GPU; a GPU is pretended only to check the resolution)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import tiny_checkpoint, write_song

from vocalsep import device as devices
from vocalsep.apps.cli import main
from vocalsep.device import cuda_device_count, parse_device, resolve_device
from vocalsep.errors import ConfigError

MISSING = "CUDA is not available on this machine (--device cuda)"


@pytest.fixture
def model(tmp_path: Path) -> str:
    return str(tiny_checkpoint(tmp_path / "model"))


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch sees two GPUs (for the resolution only: nothing runs on them)."""
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 2)


def test_this_machine_has_no_gpu_so_auto_is_the_cpu() -> None:
    assert cuda_device_count() == 0
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == resolve_device() == "cpu"


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_where_it_is_missing_is_one_line(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_device(name)
    assert str(raised.value) == f"CUDA is not available on this machine (--device {name})"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1", "cpu:0", "auto:1", "", "cuda0"])
def test_an_unknown_device_is_one_line(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_device(name)
    assert str(raised.value) == f"unknown device {name!r}: use auto, cpu, cuda, cuda:N"


def test_with_gpus_cuda_and_auto_pick_one(two_gpus: None) -> None:
    assert resolve_device("auto") == resolve_device("cuda") == resolve_device("cuda:0") == "cuda:0"
    assert resolve_device(" Cuda:1 ") == "cuda:1"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match=r"^no CUDA device 2 on this machine: it has 2 \(--device cuda:2\)$"):
        resolve_device("cuda:2")


def test_the_cpu_default_imports_no_torch() -> None:
    code = "import sys; from vocalsep.device import resolve_device; resolve_device('cpu'); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def _stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize("command", [
    ["separate"], ["separate", "--ray"], ["pitch"], ["pitch", "--no-separate"], ["pitch", "--tracker", "pyin"]])
def test_cli_cuda_is_one_line_and_no_files(tmp_path: Path, model: str, capsys, command: list[str]) -> None:
    write_song(tmp_path / "song.wav")
    args = [command[0], str(tmp_path / "song.wav"), *command[1:], "-o", str(tmp_path / "out"), "--model", model]
    if command == ["separate", "--ray"]:  # the cluster, not the driver, holds the GPUs: only the word is checked
        assert main([*args, "--device", "cuda:1"]) == 1
        assert _stderr_line(capsys) == ("vocalsep: error: with --ray, Ray gives each worker its GPU: "
                                        "use --device cuda or auto, not cuda:1")
    else:
        assert main([*args, "--device", "cuda"]) == 1
        assert _stderr_line(capsys) == f"vocalsep: error: {MISSING}"
    assert main([*args, "--device", "tpu"]) == 1
    assert _stderr_line(capsys) == "vocalsep: error: unknown device 'tpu': use auto, cpu, cuda, cuda:N"
    assert not (tmp_path / "out").exists()


def test_web_with_cuda_is_one_line_before_serving(capsys) -> None:
    assert main(["web", "--port", "0", "--device", "cuda"]) == 1
    assert _stderr_line(capsys) == f"vocalsep: error: {MISSING}"
    assert capsys.readouterr().out == ""  # no address printed: nothing served


def test_the_real_entry_point_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    write_song(tmp_path / "song.wav")
    result = subprocess.run([sys.executable, "-m", "vocalsep", "separate", str(tmp_path / "song.wav"), "-o",
                             str(tmp_path / "out"), "--device", "cuda"], capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"vocalsep: error: {MISSING}\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", [["--device", "cpu"], ["--device", "auto"]])
def test_cpu_and_auto_give_the_defaults_bytes(tmp_path: Path, model: str, flag: list[str]) -> None:
    write_song(tmp_path / "song.wav", seconds=1.5)
    common = [str(tmp_path / "song.wav"), "--model", model]
    assert main(["separate", *common, "-o", str(tmp_path / "default"), "-q"]) == 0
    assert main(["separate", *common, "-o", str(tmp_path / "flag"), "-q", *flag]) == 0
    assert main(["pitch", *common, "-o", str(tmp_path / "m-default")]) == 0
    assert main(["pitch", *common, "-o", str(tmp_path / "m-flag"), *flag]) == 0
    # the files the networks make (the stems; the contour and the notes the tracker's activations give)
    for default, chosen, names in (("default", "flag", ("vocals.wav", "accompaniment.wav")),
                                   ("m-default", "m-flag", ("f0.csv", "notes.csv", "notes.mid"))):
        for name in names:
            path = Path("song") / name
            assert (tmp_path / default / path).read_bytes() == (tmp_path / chosen / path).read_bytes(), name


def test_the_api_raises_the_same_line(tmp_path: Path, model: str) -> None:
    from vocalsep.api import Separator, separate_file, transcribe_file
    from vocalsep.apps.web import make_server
    from vocalsep.melody.tracking import PitchStream

    write_song(tmp_path / "song.wav")
    calls = [
        lambda: separate_file(tmp_path / "song.wav", tmp_path / "out", model=model, device="cuda"),
        lambda: transcribe_file(tmp_path / "song.wav", tmp_path / "out", model=model, device="cuda"),
        lambda: transcribe_file(tmp_path / "song.wav", tmp_path / "out", separate=False, device="cuda"),
        lambda: Separator.from_pretrained(model, device="cuda"),
        lambda: PitchStream(device="cuda"),
        lambda: make_server(tmp_path / "web", port=0, device="cuda"),
    ]
    for call in calls:
        with pytest.raises(ConfigError) as raised:
            call()
        assert str(raised.value) == MISSING
    assert not (tmp_path / "out").exists() and not (tmp_path / "web").exists()
    assert Separator.from_pretrained(model, device="auto").device == "cpu"


def test_a_pretended_gpu_reaches_the_separator_and_the_tracker(two_gpus: None, model: str) -> None:
    from vocalsep.melody.tracking import PitchStream
    from vocalsep.separation.separator import Separator

    separator = Separator.from_pretrained(model, device="cuda:1")
    assert separator.device == "cuda:1"
    assert separator.with_aggressiveness(1.0).device == "cuda:1"
    assert next(separator.estimator.parameters()).device.type == "cpu"  # only a copy would move
    assert PitchStream(device="auto").estimator.settings.device == "cuda:0"
    assert PitchStream(tracker="pyin", device="cuda").estimator.settings.device == "cuda:0"
