"""How fast does the CLI start? Median wall time of whole commands, beside `python -c pass`.

Runs, round-robin in the same run (so load on the machine falls on all of them alike):
  * ``python -c pass``                 -- the floor: the interpreter alone
  * ``teamcost --help``
  * ``teamcost record -m gpt-4o ...``  -- priced from genai-prices, appended to the ledger
  * ``teamcost ledger status``
each as the installed ``teamcost`` script in a fresh process, in a fresh TEAMCOST_HOME
(local ledger only). Prints each median and its distance from the floor.
Targets (issue 17): each command under 0.25 s and under the floor + 0.15 s.

    .venv/bin/python benchmarks/cli.py            # 9 runs each
    .venv/bin/python benchmarks/cli.py --runs 21
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.25
OVER_FLOOR_S = 0.15


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9, help="runs of each command (at least 7)")
    args = ap.parse_args()
    runs = max(7, args.runs)
    script = Path(sys.executable).parent / "teamcost"
    if not script.exists():
        sys.exit(f"no teamcost script beside {sys.executable}: run `make install` first")
    home = Path(tempfile.mkdtemp(prefix="teamcost-cli-bench-"))
    env = {**os.environ, "TEAMCOST_HOME": str(home), "COLUMNS": "100"}
    for key in ("FIRESTORE_EMULATOR_HOST", "TEAMCOST_PROJECT"):
        env.pop(key, None)
    try:
        subprocess.run([str(script), "init", "--team", "bench", "--member", "ann@example.com"],
                       env=env, check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "teamcost --help": [str(script), "--help"],
            "teamcost record": [str(script), "record", "-m", "gpt-4o", "-i", "1200", "-o", "300",
                                "--agent", "bench"],
            "teamcost ledger status": [str(script), "ledger", "status"],
        }
        for argv in commands.values():  # warm the page cache and .pyc files once
            subprocess.run(argv, env=env, check=True, capture_output=True)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                t = time.perf_counter()
                subprocess.run(argv, env=env, check=True, capture_output=True)
                walls[name].append(time.perf_counter() - t)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    floor = statistics.median(walls["python -c pass"])
    print(f"{'command':<24} {'median':>8} {'min':>8} {'max':>8} {'- floor':>8}   ({runs} runs each)")
    failed = []
    for name, times in walls.items():
        med = statistics.median(times)
        ok = name == "python -c pass" or (med < TARGET_S and med < floor + OVER_FLOOR_S)
        if not ok:
            failed.append(name)
        print(f"{name:<24} {med:>7.3f}s {min(times):>7.3f}s {max(times):>7.3f}s "
              f"{med - floor:>+7.3f}s   {'' if ok else 'MISSES the target'}")
    print(f"targets: each command < {TARGET_S:.2f} s and < python -c pass + {OVER_FLOOR_S:.2f} s "
          f"(= {floor + OVER_FLOOR_S:.3f} s here): "
          + ("met" if not failed else f"missed by {', '.join(failed)}"))


if __name__ == "__main__":
    main()
