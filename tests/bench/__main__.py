"""Run the benchmarks: `python -m tests.bench [--quick] [--only NAME[,NAME]] [--list]`."""

from __future__ import annotations

import argparse
import compileall
import importlib
import os
import shlex
import sys
import time
import traceback

from tests.bench.core import Report, Skip, machine_info
from tests.bench.stack import ROOT, DemoStack

# name -> (module, needs the demo stack, what it measures)
BENCHES = {
    "startup": ("bench_startup", True, "first frame and all panes live under a pty, 80x24 and 120x40"),
    "steady": ("bench_steady", True, "60 s at 1 s refresh: CPU, terminal bytes/s, peak RSS vs glances and htop"),
    "rabbitmq": ("bench_scale", False, "N RabbitMQ queues per tick vs raw GET and rabbitmqctl"),
    "health": ("bench_scale", False, "N health targets, 5 % hanging, vs a sequential curl loop"),
    "bullmq": ("bench_scale", False, "N BullMQ queues' counts per tick, round trips per tick"),
    "dlq": ("bench_scale", False, "first DLQ page of a 100,000-letter Redis DLQ and a 10,000-letter RabbitMQ DLQ"),
    "ui": ("bench_ui", False, "key press to frame: 1,000-row queue table and 10,000-letter DLQ browse"),
    "replay": ("bench_actions", False, "replay 10,000 RabbitMQ dead letters vs the shovel move"),
    "invalidate": ("bench_actions", False, "invalidate 100,000 of 1,000,000 keys vs KEYS + DEL"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced set, under 2 minutes")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, _, what) in BENCHES.items():
            print(f"{name:11} {what}")
        return 0
    chosen = [n for item in args.only for n in item.split(",") if n] or list(BENCHES)
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (see --list)")
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    # Measure the console as installed: pip writes every module's bytecode at install time, but a checkout run
    # with PYTHONDONTWRITEBYTECODE (set on these machines) compiles all of them from source on every start
    # (~0.2 s of the time until every pane is live, measured).
    for package in ("console", "widgets"):
        compileall.compile_dir(ROOT / package, quiet=1)
    command = "python -m tests.bench" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    partial = tuple(chosen) if args.only else ()
    report = Report(quick=args.quick, command=command, machine=machine_info(), only=partial)
    demo = DemoStack()
    try:
        for name in chosen:
            module_name, needs_demo, what = BENCHES[name]
            print(f"\n== {name}: {what}", flush=True)
            started = time.monotonic()
            try:
                if needs_demo:
                    demo.up()
                module = importlib.import_module(f"tests.bench.{module_name}")
                runner = getattr(module, f"run_{name}", None) or module.run
                runner(report, args.quick)
            except Skip as exc:
                report.skip(name, str(exc))
            except KeyboardInterrupt:
                report.skip(name, "interrupted")
                break
            except Exception as exc:  # noqa: BLE001 - one broken benchmark never ends the run
                traceback.print_exc()
                report.skip(name, f"error: {type(exc).__name__}: {exc}"[:300])
            print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        demo.down()
        path = report.write()
    print("\n" + path.read_text())
    print(f"results: {path} and {path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
