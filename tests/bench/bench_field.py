"""Field page benchmark: the nearby page on throttled phone connections, cold and from the service worker.

Run: ``.venv/bin/python tests/bench/run.py field`` (``--runs 3``, ``--county 430381``).
Builds the demo data in a temporary directory, serves it with uvicorn on a free 127.0.0.1 port and drives
Debian's chromium through Playwright. Each connection profile is applied with Chromium's own network
emulation (CDP ``Network.emulateNetworkConditions`` on the page: Slow 3G = 400 kbit/s both ways, 400 ms
RTT; Fast 3G = 1.6 Mbit/s down, 750 kbit/s up, 150 ms RTT; both with the cache off for the cold run).

Measured per run, the median printed: bytes the page received over the network (CDP ``encodedDataLength``,
compressed as sent), requests answered by the service worker, DOMContentLoaded and load (Navigation
Timing) and time to interactive: from the navigation until the nearby list's first link is in the page
(the list is server-rendered, so it is tappable once parsed; the map's scripts come after it). "cold" is
a fresh profile; "sw" is a second visit once the service worker controls the page, so the app shell comes
from its cache. Page-level emulation does not slow the worker's own fetch of the HTML (network-first), so
the "sw" rows understate the HTML's transfer time by about one round trip plus its bytes at the profile's
rate; the bytes column counts the HTML either way.

Then the offline download of one county: the plan's sizes (``/offline/area``) and the real bytes of every
file in it, fetched once over HTTP (project GeoJSON, report pages, basemap tiles).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"]
PROFILES = {
    "Slow 3G": {"latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8},
    "Fast 3G": {"latency": 150, "downloadThroughput": 1_600_000 / 8, "uploadThroughput": 750_000 / 8},
}
LIST_LINK = ".pm-near li a"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gzip_size(url: str) -> int:
    """Return the bytes of ``url`` as sent gzip-compressed (what a browser receives)."""
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        return sum(len(chunk) for chunk in response.iter_raw())


def _serve(gpkg: Path, port: int, root: Path) -> subprocess.Popen:
    env = {"PLANMAP_GPKG_PATH": str(gpkg), "PLANMAP_DATA_DIR": str(gpkg.parent), "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = str(root)
    cmd = [sys.executable, "-m", "uvicorn", "server.main:create_app", "--factory", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, cwd=root)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503):
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("uvicorn did not start")


def _visit(page, url: str, profile: dict, cold: bool) -> dict[str, float]:
    """Load ``url`` once under ``profile``; return bytes, SW-served requests, DCL, load and TTI (ms)."""
    cdp = page.context.new_cdp_session(page)
    got = {"bytes": 0.0, "sw": 0.0}
    cdp.on("Network.loadingFinished", lambda e: got.__setitem__("bytes", got["bytes"] + e["encodedDataLength"]))
    cdp.on(
        "Network.responseReceived",
        lambda e: e["response"].get("fromServiceWorker") and got.__setitem__("sw", got["sw"] + 1),
    )
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": cold})
    cdp.send("Network.emulateNetworkConditions", {"offline": False, **profile})
    start = time.monotonic()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(LIST_LINK, timeout=120_000)
    tti = (time.monotonic() - start) * 1000
    page.wait_for_load_state("load", timeout=120_000)
    timing = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.domContentLoadedEventEnd - n.startTime, n.loadEventEnd - n.startTime]; })()"
    )
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    cdp.detach()
    return {"bytes": got["bytes"], "sw": got["sw"], "dcl": timing[0], "load": timing[1], "tti": tti}


def _page_rows(playwright, bases: dict[str, str], query: str, runs: int) -> list[tuple[str, str, dict[str, float]]]:
    """Visit each system's nearby page cold, alternating systems run by run; this checkout's also from its SW."""
    rows = []
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    try:
        for name, profile in PROFILES.items():
            found: dict[str, list[dict[str, float]]] = {}
            for _ in range(runs):
                for system, base in bases.items():  # each visit on a fresh profile
                    context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="allow")
                    page = context.new_page()
                    found.setdefault(f"{system} cold", []).append(_visit(page, base + query, profile, cold=True))
                    if system == "this":
                        page.wait_for_selector("#pm-fieldapp[data-sw=controlled]", timeout=60_000)
                        page.goto(f"{base}/offline", wait_until="load")
                        found.setdefault("this sw", []).append(_visit(page, base + query, profile, cold=False))
                    context.close()
            for mode, results in found.items():
                rows.append((name, mode, {k: statistics.median(r[k] for r in results) for k in results[0]}))
    finally:
        browser.close()
    return rows


def _offline_rows(base: str, county: str) -> tuple[dict, dict[str, int]]:
    plan = httpx.get(f"{base}/offline/area", params={"county": county}, timeout=120).json()
    real = {"projects": 0, "pages": 0, "tiles": 0}
    with httpx.Client(base_url=base, timeout=60) as client:
        for row in plan["projects"]["layers"]:
            real["projects"] += len(client.get(row["url"]).content)
        for url in plan["pages"]["urls"]:
            real["pages"] += len(client.get(url).content)
        for z, x, y in plan["tiles"]["list"]:
            real["tiles"] += len(client.get(plan["tiles"]["template"].format(z=z, x=x, y=y)).content)
    return plan, real


def main(argv: list[str]) -> int:
    """Measure the nearby page on Slow and Fast 3G, cold and with the service worker, then one county's download."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--county", default="430381")
    parser.add_argument("--compare", type=Path, help="another planmap checkout to visit cold too (e.g. ../before)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from geo.storage.gpkg import GeoPackageStore
    from layers.demo import build_demo
    from layers.registry import load_catalogue

    with tempfile.TemporaryDirectory(prefix="planmap-bench-field-") as tmp:
        gpkg = Path(tmp) / "planmap.gpkg"
        with GeoPackageStore(gpkg) as store:
            build_demo(store, load_catalogue(), seed=2025)
        roots = {"this": Path(__file__).resolve().parents[2], **({"other": args.compare} if args.compare else {})}
        procs, bases = [], {}
        try:
            for system, root in roots.items():
                port = _free_port()
                procs.append(_serve(gpkg, port, root))
                bases[system] = f"http://127.0.0.1:{port}"
            # a point in 湘乡市 with projects around it: the list shows a few rows and the map draws them
            query = "/map/nearby?lon=112.53&lat=27.73&radius_m=5000"
            with sync_playwright() as playwright:
                rows = _page_rows(playwright, bases, query, args.runs)
            html = {s: len(httpx.get(b + query, headers={"Accept-Encoding": "gzip"}).content) for s, b in bases.items()}
            gz = {s: _gzip_size(b + query) for s, b in bases.items()}
            plan, real = _offline_rows(bases["this"], args.county)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
        url = query

    print(f"\nnearby page ({url.split('?')[1]}), median of {args.runs} runs, chromium network emulation")
    print("systems: " + ", ".join(f"{s} = {r}" for s, r in roots.items()))
    print("HTML: " + ", ".join(f"{s} {html[s] / 1024:.1f} KiB ({gz[s] / 1024:.1f} KiB gzip)" for s in bases))
    print("(sw rows: the worker fetches the HTML itself, outside the page's byte count and throttling)\n")
    print("| profile | cache | transferred | from SW | DOMContentLoaded | load | list tappable |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, mode, r in rows:
        print(
            f"| {name} | {mode} | {r['bytes'] / 1024:.1f} KiB | {r['sw']:.0f} | {r['dcl']:.0f} ms | "
            f"{r['load']:.0f} ms | {r['tti']:.0f} ms |"
        )
    print(f"\noffline data for {plan['name']} ({args.county}), basemap z{plan['minZoom']}-{plan['maxZoom']}\n")
    print("| part | items | estimated before download | real bytes |")
    print("|---|---:|---:|---:|")
    for part, count in (
        ("projects", plan["projects"]["count"]),
        ("pages", plan["pages"]["count"]),
        ("tiles", plan["tiles"]["count"]),
    ):
        print(f"| {part} | {count} | {plan[part]['bytes'] / 1024:.0f} KiB | {real[part] / 1024:.0f} KiB |")
    print(f"| total | | {plan['totalBytes'] / 1024:.0f} KiB | {sum(real.values()) / 1024:.0f} KiB |")
    print(
        "\nprojects by layer: "
        + ", ".join(f"{r['layer']} {r['count']} ({r['bytes'] / 1024:.1f} KiB)" for r in plan["projects"]["layers"])
    )
    print("tiles by zoom: " + ", ".join(f"z{z} {n}" for z, n in plan["tiles"]["byZoom"].items()))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
