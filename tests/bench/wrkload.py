"""Load from ``wrk`` (a client in C) cycling through a list of paths: rate and latency percentiles.

A Python client (httpx threads) needs a core's worth of CPU of its own at a few hundred requests a second: on
a 2-core machine it takes that from the server it measures, and more from the faster system, so the figures
of every bench that compares servers come from here when ``wrk`` is installed (``apt-get install wrk``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """
paths = {%s}
etags = {%s}
i = 0
request = function()
  i = i %% #paths + 1
  local headers = {["Accept-Encoding"] = "gzip"}
  if #etags > 0 then headers["If-None-Match"] = etags[i] end
  return wrk.format("GET", paths[i], headers)
end
done = function(summary, latency, requests)
  io.write(string.format("LOAD %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), summary.errors.status + summary.errors.timeout))
end
"""


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def available() -> bool:
    """Return whether ``wrk`` is on the ``PATH``."""
    return shutil.which("wrk") is not None


def _lua(items: list[str]) -> str:
    return ", ".join(f'"{item}"' if '"' not in item else "'" + item + "'" for item in items)


def _busy_jiffies() -> tuple[int, int]:
    """Return the machine's busy and total CPU time so far (``/proc/stat``, clock ticks)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def settle(quiet: float = 0.1, window: float = 0.25, most: float = 60.0) -> float:
    """Wait until the machine is idle (under ``quiet`` of its CPU busy over ``window`` s); return the wait.

    wrk stops sending at its deadline, but a server (and its database) may still be working through the
    requests that were in flight, seconds of them for heavy low-zoom tiles: without this wait that tail is
    measured against whichever system runs next.
    """
    started = time.monotonic()
    while time.monotonic() - started < most:
        busy0, total0 = _busy_jiffies()
        time.sleep(window)
        busy1, total1 = _busy_jiffies()
        if total1 > total0 and (busy1 - busy0) / (total1 - total0) < quiet:
            break
    return time.monotonic() - started


def wrk(base: str, paths: list[str], connections: int, seconds: float, etags: list[str] | None = None) -> Load:
    """Cycle through ``paths`` on ``connections`` for ``seconds`` (``If-None-Match: etags[i]`` when given).

    Any answer that is not 2xx or 3xx, or none within 60 s, fails the run: a bench must not count errors as
    throughput. Starts once the machine is idle (:func:`settle`).
    """
    settle()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_SCRIPT % (_lua(paths), _lua(etags or [])))
    try:
        threads = min(connections, 2)
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s", "-s", script.name]
        command.append(base)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        Path(script.name).unlink()
    found = re.search(r"^LOAD (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no summary for {base}: {out[-400:]}")
    requests, duration_us, p50_us, p95_us, bad = (int(g) for g in found.groups())
    if bad or requests == 0:
        raise RuntimeError(f"{bad} failed requests of {requests} against {base}")
    return Load(requests, duration_us / 1e6, p50_us / 1000, p95_us / 1000)
