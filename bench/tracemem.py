"""The relay in-process under tracemalloc: where does memory grow?

Serves like `relay serve` (settings from the environment, loopback only) and
every --every seconds writes to --out the top allocation differences against
the first snapshot taken after --settle seconds, grouped by traceback, and
the traced total. bench/soak.py runs it under load with --trace FILE:

    .venv/bin/python bench/soak.py --minutes 10 --trace /tmp/relay-trace.txt
"""
import argparse
import ctypes
import linecache
import os
import signal
import sys
import threading
import time
import tracemalloc

sys.path.insert(0, os.getcwd())     # the checkout being measured, as `relay serve` would

FRAMES = 25
IGNORED = [tracemalloc.Filter(False, tracemalloc.__file__),
           tracemalloc.Filter(False, linecache.__file__),          # this report's own
           tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
           tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>")]


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def pymalloc() -> str:
    """Python's own allocator: arenas held (each 1 MiB of address space, kept
    while any block in it lives) against the bytes its live blocks use."""
    import tempfile
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)       # _debugmallocstats() writes to C's stderr
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("latin-1")
    figures = {}
    for line in text.splitlines():
        label, _, value = line.partition("=")
        if value.strip().replace(",", "").isdigit():
            figures[label.strip("# ").strip()] = int(value.strip().replace(",", ""))
    return (f"pymalloc arenas={figures.get('arenas allocated current', 0)} "
            f"live blocks={figures.get('bytes in allocated blocks', 0) / 2**20:.1f} MiB "
            f"free in pools={figures.get('bytes in available blocks', 0) / 2**20:.1f} MiB")


def native() -> str:
    """What Python's tracer does not see: SQLite's own heap (page caches,
    statements) and glibc's (in use, and freed but held by its arenas)."""
    import _sqlite3
    sqlite = ctypes.CDLL(_sqlite3.__file__)
    sqlite.sqlite3_memory_used.restype = ctypes.c_int64
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return (f"rss={rss / 1024:.1f} MiB sqlite={sqlite.sqlite3_memory_used() / 2**20:.2f} MiB "
            f"malloc in use={info.uordblks / 2**20:.1f} MiB free held={info.fordblks / 2**20:.1f} "
            f"MiB mmapped={info.hblkhd / 2**20:.1f} MiB {pymalloc()}")


def dump(out: str, baseline, started: float, top: int, server) -> None:
    outside = native()           # before the snapshot, which itself takes tens of MiB
    snapshot = tracemalloc.take_snapshot().filter_traces(IGNORED)
    current, peak = tracemalloc.get_traced_memory()
    differences = snapshot.compare_to(baseline, "traceback")
    pool = server.relay.pool._idle.qsize()
    with open(out, "a") as file:
        file.write(f"=== t={time.monotonic() - started:.0f}s traced={current / 2**20:.2f} MiB "
                   f"peak={peak / 2**20:.2f} MiB {outside} idle db connections={pool}\n")
        for stat in differences[:top]:
            file.write(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks "
                       f"(now {stat.size / 1024:.1f} KiB)\n")
            for line in stat.traceback.format(limit=8, most_recent_first=True):
                file.write(f"    {line}\n")
        file.flush()


def untraced(out: str, every: float, trim: bool, stop: threading.Event) -> None:
    """--frames 0: the native figures only (no tracer to distort them); with
    --trim, also what malloc_trim(0) gives back to the system each time."""
    started = time.monotonic()
    libc = ctypes.CDLL("libc.so.6")
    while not stop.wait(every):
        line = f"=== t={time.monotonic() - started:.0f}s {native()}"
        if trim:
            libc.malloc_trim(0)
            line += f" | after malloc_trim: {native()}"
        with open(out, "a") as file:
            file.write(line + "\n")


def watch(out: str, settle: float, every: float, top: int, stop: threading.Event,
          server) -> None:
    started = time.monotonic()
    stop.wait(settle)
    baseline = tracemalloc.take_snapshot().filter_traces(IGNORED)
    with open(out, "a") as file:
        file.write(f"=== baseline t={time.monotonic() - started:.0f}s {native()}\n")
    while not stop.wait(every):
        dump(out, baseline, started, top, server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--settle", type=float, default=90,
                        help="seconds before the baseline snapshot")
    parser.add_argument("--every", type=float, default=60)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=FRAMES,
                        help="traceback depth; 0: no tracer, the native figures only")
    parser.add_argument("--trim", action="store_true",
                        help="with --frames 0: malloc_trim(0) after each figure")
    args = parser.parse_args()
    if args.frames:
        tracemalloc.start(args.frames)
    from relay.server.settings import parse
    from relay.server.serving import Server
    settings = parse(dict(os.environ))
    if settings.host not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit("tracemem: loopback only")
    server = Server(settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())
    stop = threading.Event()
    if args.frames:
        target, extra = watch, (args.out, args.settle, args.every, args.top, stop, server)
    else:
        target, extra = untraced, (args.out, args.every, args.trim, stop)
    threading.Thread(target=target, args=extra, daemon=True, name="tracemem").start()
    try:
        server.run()
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
