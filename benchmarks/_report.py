"""Tables, targets and the machine description of a benchmark run."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

IDEAL_SLEEP_S = 2.0  # 40 x sleep(0.1) on 2 workers
LABELS = {
    "acme": "this acme",
    "esi-acme": "ACME (esi-acme)",
    "dask": "raw dask",
    "pool": "ProcessPool",
    "floor": "serial h5py",
    "quickstart": "cold example",
}
FLOOR_MODE = "files+container"       # the floor: plain h5py in one process
WRITER_FLOOR_MODE = "acme-writer"    # stricter: this project's own writer in one process
# which ACME mode a baseline row is compared with
ACME_COUNTERPART = {"dask": "memory", "pool": "memory", "floor": "hdf5"}


@dataclass
class Row:
    tool: str
    mode: str
    n: int
    func: str = "f"
    repeats: int = 1
    times: list[float] = field(default_factory=list)
    status: str = "pending"
    note: str = ""
    peak_rss_mb: float | None = None

    @property
    def seconds(self) -> float | None:
        return statistics.median(self.times) if self.status == "ok" and self.times else None

    @property
    def ms_per_call(self) -> float | None:
        s = self.seconds
        return None if s is None else 1000 * s / self.n

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"seconds": self.seconds, "ms_per_call": self.ms_per_call}


class Results:
    """All rows of one run, with look-ups for the ratio columns and the targets."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = list(rows)

    def find(self, tool: str, mode: str | None, n: int, func: str = "f") -> Row | None:
        for row in self.rows:
            if (row.tool, row.n, row.func) == (tool, n, func) and mode in (None, row.mode):
                return row
        return None

    def seconds(self, tool: str, mode: str | None, n: int, func: str = "f") -> float | None:
        row = self.find(tool, mode, n, func)
        return None if row is None else row.seconds

    def vs_acme(self, row: Row) -> float | None:
        mode = ACME_COUNTERPART.get(row.tool, row.mode)
        return _ratio(self.seconds("esi-acme", mode, row.n), row.seconds)

    def vs_dask(self, row: Row) -> float | None:
        return _ratio(self.seconds("dask", None, row.n), row.seconds)

    def vs_floor_half(self, row: Row, floor_mode: str = FLOOR_MODE) -> float | None:
        floor = self.seconds("floor", floor_mode, row.n)
        return _ratio(row.seconds, None if floor is None else floor / 2)


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


MAIN_HEADER = [
    "tool",
    "mode",
    "N",
    "total s",
    "ms/call",
    "speedup vs ACME",
    "speedup vs dask",
    "time/(floor/2)",
    "peak RSS MB",
    "note",
]


def main_table(res: Results) -> list[list[str]]:
    out = []
    for row in sorted((r for r in res.rows if r.func == "f"), key=lambda r: r.n):
        out.append(
            [
                LABELS[row.tool],
                row.mode,
                f"{row.n:,}",
                _fmt(row.seconds, ".3f") if row.status == "ok" else row.status,
                _fmt(row.ms_per_call, ".3f"),
                _fmt(res.vs_acme(row), ".2f", "x"),
                _fmt(res.vs_dask(row), ".2f", "x"),
                _fmt(res.vs_floor_half(row), ".2f", "x"),
                _fmt(row.peak_rss_mb, ".0f"),
                row.note[:60],
            ]
        )
    return out


SLEEP_HEADER = ["tool", "mode", "N", "total s", "ideal s", "efficiency", "note"]


def sleep_table(res: Results) -> list[list[str]]:
    out = []
    for row in (r for r in res.rows if r.func == "nap"):
        s = row.seconds
        out.append(
            [
                LABELS[row.tool],
                row.mode,
                str(row.n),
                _fmt(s, ".3f") if row.status == "ok" else row.status,
                f"{IDEAL_SLEEP_S:.1f}",
                _fmt(_ratio(IDEAL_SLEEP_S, s), ".1%"),
                row.note[:60],
            ]
        )
    return out


def cold_table(res: Results) -> list[list[str]]:
    return [
        [row.mode, _fmt(row.seconds, ".2f") if row.status == "ok" else row.status, row.note]
        for row in res.rows
        if row.tool == "quickstart"
    ]


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _check(value: float | None, test: Callable[[float], bool]) -> bool | None:
    return None if value is None else test(value)


def targets(res: Results, n: int = 10_000, n_small: int = 1_000) -> list[list[str]]:
    """The issue's targets, each with the measured figure and PASS / FAIL / n/a."""
    out: list[list[str]] = []

    def add(text: str, value: float | None, spec: str, test: Callable[[float], bool]) -> None:
        out.append([text, _fmt(value, spec), _verdict(_check(value, test))])

    def speedup(mode: str, baseline: str) -> float | None:
        row = res.find("acme", mode, n)
        if row is None:
            return None
        return res.vs_acme(row) if baseline == "acme" else res.vs_dask(row)

    add(
        f"memory >= 10x faster than ACME memory (N={n:,})",
        speedup("memory", "acme"),
        ".2f",
        lambda v: v >= 10,
    )
    add(
        f"memory >= 5x faster than raw dask (N={n:,})",
        speedup("memory", "dask"),
        ".2f",
        lambda v: v >= 5,
    )
    add(
        f"hdf5 >= 4x faster than ACME hdf5 (N={n:,})",
        speedup("hdf5", "acme"),
        ".2f",
        lambda v: v >= 4,
    )
    hdf5 = res.find("acme", "hdf5", n)
    add(
        f"hdf5 time <= 1.5 x serial floor/2 (N={n:,})",
        None if hdf5 is None else res.vs_floor_half(hdf5),
        ".2f",
        lambda v: v <= 1.5,
    )
    add(
        f"(stricter, not an issue target) hdf5 time <= 1.5 x acme-writer floor/2 (N={n:,})",
        None if hdf5 is None else res.vs_floor_half(hdf5, WRITER_FLOOR_MODE),
        ".2f",
        lambda v: v <= 1.5,
    )
    add(
        f"shape >= 4x faster than ACME shape (N={n:,})",
        speedup("shape", "acme"),
        ".2f",
        lambda v: v >= 4,
    )
    for mode in sorted({r.mode for r in res.rows if r.tool == "acme" and r.func == "f"}):
        big, small = res.find("acme", mode, n), res.find("acme", mode, n_small)
        growth = None
        if big is not None and small is not None:
            growth = _ratio(big.ms_per_call, small.ms_per_call)
        add(
            f"{mode}: ms/call at N={n:,} <= 1.2 x ms/call at N={n_small:,}",
            growth,
            ".2f",
            lambda v: v <= 1.2,
        )
    for row in (r for r in res.rows if r.tool == "acme" and r.func == "nap"):
        add(
            f"{row.mode}: 40 x sleep(0.1) within 5% of 2.0 s (seconds)",
            row.seconds,
            ".3f",
            lambda v: v <= IDEAL_SLEEP_S * 1.05,
        )
    for row in (r for r in res.rows if r.tool == "acme" and r.n >= 100_000):
        rss = row.peak_rss_mb if row.status == "ok" else None
        add(
            f"{row.mode}: {row.n:,} calls complete, driver peak RSS < 500 MB",
            rss,
            ".0f",
            lambda v: v < 500,
        )
    return out


TARGET_HEADER = ["target", "measured", "verdict"]


def machine(acme_env: str, load_at_start: tuple[float, float, float]) -> list[tuple[str, str]]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    ver = importlib.metadata.version
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} logical, {psutil.cpu_count(logical=False)} physical"),
        ("RAM", f"{psutil.virtual_memory().total / 2**30:.1f} GiB"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("dask / distributed", f"{ver('dask')} / {ver('distributed')}"),
        ("h5py / numpy", f"{ver('h5py')} / {ver('numpy')}"),
        ("ACME venv", acme_env),
        ("load average (1/5/15 min) at start", " ".join(f"{x:.2f}" for x in load_at_start)),
        ("load average (1/5/15 min) at end", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def sections(res: Results) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (
            "Per-call overhead (trivial function, warm client, medians)",
            MAIN_HEADER,
            main_table(res),
        ),
        ("Efficiency: 40 x sleep(0.1) on 2 workers (ideal 2.0 s)", SLEEP_HEADER, sleep_table(res)),
        (
            "Cold run of the example (whole subprocess)",
            ["script", "seconds", "note"],
            cold_table(res),
        ),
        ("Targets (issue 6)", TARGET_HEADER, targets(res)),
    ]


def render_text(res: Results) -> str:
    parts = []
    for title, header, rows in sections(res):
        if rows:
            parts += [title, text_table(header, rows), ""]
    return "\n".join(parts)


def render_markdown(res: Results, machine_info: list[tuple[str, str]], command: str) -> str:
    parts = [
        "# Benchmark results",
        "",
        f"Command: `{command}`",
        "",
        md_table(["machine", ""], [list(item) for item in machine_info]),
        "",
    ]
    for title, header, rows in sections(res):
        if rows:
            parts += [f"## {title}", "", md_table(header, rows), ""]
    return "\n".join(parts)


def rst_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return ", ".join('"' + c.replace('"', '""').replace("`", "") + '"' for c in cells)

    body = "\n".join("   " + line(r) for r in rows)
    return f".. csv-table::\n   :header: {line(header)}\n\n{body}\n"


def render_rst(res: Results, machine_info: list[tuple[str, str]], command: str) -> str:
    """The tables as reStructuredText, included by the documentation's performance page."""
    parts = [
        f"Measured with ``{command}``.",
        "",
        rst_table(["machine", ""], [list(item) for item in machine_info]),
    ]
    for title, header, rows in sections(res):
        if rows:
            parts += [f"**{title}**", "", rst_table(header, rows)]
    return "\n".join(parts)

