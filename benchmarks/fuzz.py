"""The long fuzz run: many more inputs than CI's short run, printing how many were tried.

Runs the same properties as ``tests/test_fuzz_decoder.py`` (truncated and mutated
wav/flac/mp3/ogg/mp4 bytes, and WAV headers with absurd rates, channel counts and sizes,
through ``load_audio`` and ``AudioReader``) and ``tests/test_fuzz_separation.py`` (generated
files, extreme finite amplitudes among them, through ``api.separate_file`` with the bundled
model), with a random seed instead of CI's fixed one. Exits 1 on the first property
violation (hypothesis prints the shrunk input); a native crash shows as a faulthandler trace
and no final count. Usage::

    taskset -c 1 python benchmarks/fuzz.py --decoder 12000 --headers 4000 --separation 300 --seed 1
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402


def run_decoder(count: int, random_seed: int, family: str = "decoder") -> int:
    """Fuzz the decoder entry with ``count`` inputs of ``family``; return how many were tried.

    ``decoder``: mutated seed files and raw bytes; ``headers``: WAVs with absurd header fields.
    """
    from fuzzing import Tally, absurd_headers, check_decoder, decoder_inputs

    strategy = decoder_inputs() if family == "decoder" else absurd_headers()
    tally = Tally()
    started = time.perf_counter()

    @seed(random_seed)
    @settings(max_examples=count, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def property_holds(case) -> None:  # noqa: ANN001
        with tempfile.TemporaryDirectory() as folder:
            check_decoder(case, Path(folder), tally)
        if tally.tried % 1000 == 0:
            print(f"  {tally.line(family)} in {time.perf_counter() - started:.0f} s", flush=True)

    property_holds()
    print(f"{tally.line(family + ' fuzz')} in {time.perf_counter() - started:.0f} s", flush=True)
    return tally.tried


def run_separation(count: int, random_seed: int) -> int:
    """Separate ``count`` generated files with the bundled model; return how many were checked."""
    import test_fuzz_separation as separation

    started = time.perf_counter()
    outcomes: list[str] = []

    @seed(random_seed)
    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=separation.separation_cases())
    def property_holds(case: dict) -> None:
        with tempfile.TemporaryDirectory() as folder:
            outcomes.append(separation.check_case(case, Path(folder)))

    property_holds()
    print(f"separation fuzz: {len(outcomes)} generated files checked ({outcomes.count('separated')} separated, "
          f"{outcomes.count('refused')} refused with one line) in {time.perf_counter() - started:.0f} s", flush=True)
    return len(outcomes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", type=int, default=12000, help="decoder inputs (default 12000)")
    parser.add_argument("--headers", type=int, default=4000, help="absurd WAV headers (default 4000)")
    parser.add_argument("--separation", type=int, default=300, help="files to separate (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="hypothesis seed (default 1)")
    args = parser.parse_args()
    faulthandler.enable()
    import torch

    torch.set_num_threads(1)
    total = 0
    if args.decoder:
        total += run_decoder(args.decoder, args.seed)
    if args.headers:
        total += run_decoder(args.headers, args.seed, "headers")
    if args.separation:
        total += run_separation(args.separation, args.seed)
    print(f"fuzz total: {total} inputs tried without a property violation or crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
