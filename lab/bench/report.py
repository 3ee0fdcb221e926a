"""What a run leaves behind: a table in the terminal, a JSON file, SVG charts, a Markdown table.

The JSON holds every figure of every row, the notes said during the run, the settings,
and the machine's facts (CPU model, cores, kernel, Python, package and tool versions),
so that two files from two machines can be compared without guessing. Charts are SVG
written by hand: no plotting dependency, and a browser or the README shows them.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
from typing import Iterable

from .scenarios import Chart, Scenario

__all__ = ["machine_facts", "format_table", "markdown_table", "write_json", "svg_chart", "write_outputs"]

PACKAGES = ["protocol-lab", "uvloop", "httptools", "h11", "uvicorn", "aiohttp", "httpx"]


def machine_facts() -> dict:
    facts: dict = {
        "cpu_model": _cpu_model(),
        "cpus_online": os.cpu_count(),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "loadavg_at_start": _read("/proc/loadavg").split()[:3],
        "mem_total_kib": _meminfo_total(),
        "packages": {},
        "tools": {},
    }
    for name in PACKAGES:
        try:
            facts["packages"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            facts["packages"][name] = None
    from .wrk import wrk_version

    facts["tools"]["wrk"] = wrk_version()
    nginx = shutil.which("nginx")
    if nginx:  # `nginx -v` writes "nginx version: nginx/1.22.1" to stderr
        out = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=5)
        facts["tools"]["nginx"] = (out.stderr or out.stdout).strip().split(": ")[-1]
    else:
        facts["tools"]["nginx"] = None
    facts["lab_commit"] = _git_commit()
    return facts


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo_total() -> int | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return None


def _git_commit() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except OSError:
        return None
    return out.stdout.strip() or None


# ----------------------------------------------------------------------- tables


def _cell(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or value == "":
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def _grid(scenario: Scenario, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    headers = [c.header for c in scenario.columns]
    lines = []
    for row in rows:
        if row.get("error"):
            # the identifying cells, then the sentence saying what went wrong
            ident = [_cell(row, c.key, c.fmt) for c in scenario.columns[:3]]
            lines.append(ident + ["failed: " + row["error"]])
        else:
            lines.append([_cell(row, c.key, c.fmt) for c in scenario.columns])
    return headers, lines


def format_table(scenario: Scenario, rows: list[dict], extra: Iterable[str] = ()) -> str:
    headers, lines = _grid(scenario, rows)
    full = [line for line in lines if len(line) == len(headers)]
    widths = [max([len(h)] + [len(line[i]) for line in full]) for i, h in enumerate(headers)]
    last = len(headers) - 1

    def just(i: int, text: str, width: int) -> str:  # names left, figures right, the last (text) left
        return text.ljust(width) if i in (0, last) else text.rjust(width)

    out = [scenario.title, "  ".join(just(i, h, w) for i, (h, w) in enumerate(zip(headers, widths))).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        if len(line) == len(headers):
            out.append("  ".join(just(i, c, w) for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        else:
            head = "  ".join(just(i, c, w) for i, (c, w) in enumerate(zip(line[:-1], widths)))
            out.append(head + "  " + line[-1])
    out += [f"  {x}" for x in extra]
    return "\n".join(out)


def markdown_table(scenario: Scenario, rows: list[dict]) -> str:
    headers, lines = _grid(scenario, rows)
    out = [f"**{scenario.title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for line in lines:
        cells = line if len(line) == len(headers) else line[:-1] + [line[-1]] + [""] * (len(headers) - len(line))
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


# ----------------------------------------------------------------------- JSON


def write_json(path: str, document: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(document, f, indent=2, sort_keys=False)
        f.write("\n")


# ----------------------------------------------------------------------- SVG

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#17becf"]


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value: a round axis top."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(power * step for step in (1, 2, 2.5, 5, 10) if power * step >= value)


def _order(values: list) -> list:
    seen: list = []
    for v in values:
        if v not in seen:
            seen.append(v)
    numeric = [v for v in seen if isinstance(v, (int, float))]
    others = [v for v in seen if not isinstance(v, (int, float))]
    return sorted(numeric) + others


def svg_chart(chart: Chart, rows: list[dict], subtitle: str = "") -> str:
    """A grouped bar chart of `chart.value`: groups along x, one colour per series."""
    data = [r for r in rows if isinstance(r.get(chart.value), (int, float)) and not r.get("error")]
    groups = _order([r.get(chart.group) for r in data])
    series = list(dict.fromkeys(r.get(chart.series) for r in data))  # in the order they ran
    top = _nice_max(max((r[chart.value] for r in data), default=0))
    left, right, plot_top, plot_h = 70, 20, 50, 300
    bar_w = 14
    group_w = max(1, len(series)) * bar_w + 24
    width = left + right + max(1, len(groups)) * group_w + 180
    height = plot_top + plot_h + 60
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">{e(chart.title)}</text>',
           f'<text x="{left}" y="36" fill="#555">{e(subtitle)}</text>']
    for i in range(6):  # horizontal grid lines with their values
        y = plot_top + plot_h - plot_h * i / 5
        label = f"{top * i / 5:,.6g}"
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + len(groups) * group_w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{e(label)}</text>')
    out.append(f'<text x="14" y="{plot_top + plot_h / 2}" transform="rotate(-90 14 {plot_top + plot_h / 2})" '
               f'text-anchor="middle">{e(chart.value)} ({e(chart.unit)})</text>')
    for g, group in enumerate(groups):
        x0 = left + g * group_w + 12
        for s, name in enumerate(series):
            row = next((r for r in data if r.get(chart.group) == group and r.get(chart.series) == name), None)
            if row is None:
                continue
            value = row[chart.value]
            h = plot_h * value / top
            x = x0 + s * bar_w
            out.append(f'<rect x="{x}" y="{plot_top + plot_h - h:.1f}" width="{bar_w - 2}" height="{h:.1f}" '
                       f'fill="{PALETTE[s % len(PALETTE)]}"><title>{e(str(name))} {e(str(group))}: '
                       f'{value:,.6g} {e(chart.unit)}</title></rect>')
        out.append(f'<text x="{x0 + len(series) * bar_w / 2:.1f}" y="{plot_top + plot_h + 16}" '
                   f'text-anchor="middle">{e(str(group))}</text>')
    out.append(f'<text x="{left + len(groups) * group_w / 2:.1f}" y="{plot_top + plot_h + 36}" '
               f'text-anchor="middle">{e(chart.group)}</text>')
    legend_x = left + len(groups) * group_w + 16
    for s, name in enumerate(series):
        y = plot_top + s * 16
        out.append(f'<rect x="{legend_x}" y="{y}" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{legend_x + 14}" y="{y + 9}">{e(str(name))}</text>')
    if not data:
        out.append(f'<text x="{left + 10}" y="{plot_top + plot_h / 2}" fill="#a00">no figures: see the table</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_outputs(out_dir: str, json_path: str, document: dict, scenarios: dict[str, Scenario]) -> list[str]:
    """Write the JSON, one SVG per chart and summary.md; the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    write_json(json_path, document)
    written.append(json_path)
    machine = document["machine"]
    subtitle = f"{machine['cpu_model']}, {machine['cpus_online']} CPUs, Python {machine['python']}, {document['started']}"
    md = [f"Measured with `{document['command']}` on {subtitle}.", ""]
    for name, result in document["scenarios"].items():
        scenario = scenarios[name]
        for chart in scenario.charts:
            path = os.path.join(out_dir, f"{name}-{chart.name}.svg")
            with open(path, "w") as f:
                f.write(svg_chart(chart, result["rows"], subtitle))
            written.append(path)
        md += [markdown_table(scenario, result["rows"]), ""] + [f"- {line}" for line in result["summary"]] + [""]
    md += [f"- note: {n}" for n in document["notes"]]
    path = os.path.join(out_dir, "summary.md")
    with open(path, "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    written.append(path)
    return written
