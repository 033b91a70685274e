"""Headless Debian Chromium through Selenium, and axe-core (from the npm registry, cached) for accessibility."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE_VERSION = "4"  # the newest 4.x when first fetched; kept in the cache afterwards
AXE_CACHE = Path.home() / ".cache" / "journeyline" / "axe"
SERIOUS = ("serious", "critical")


def available() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing: apt-get install chromium chromium-driver (make system-deps does)"
    return None


def driver(width: int = 1600, height: int = 1000) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--lang=en-GB", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_script_timeout(60)
    browser.implicitly_wait(0)
    return browser


def axe_source() -> str:
    """axe.min.js from the npm package, fetched once with `npm pack` into the cache (no CDN at run time)."""
    AXE_CACHE.mkdir(parents=True, exist_ok=True)
    script = AXE_CACHE / "axe.min.js"
    if script.exists():
        return script.read_text()
    packs = sorted(AXE_CACHE.glob("axe-core-*.tgz"))
    if not packs:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed once to fetch axe-core (apt-get install npm)")
        subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"], cwd=AXE_CACHE, check=True, timeout=300)
        packs = sorted(AXE_CACHE.glob("axe-core-*.tgz"))
    with tarfile.open(packs[-1]) as tar:
        member = tar.extractfile("package/axe.min.js")
        assert member is not None
        script.write_bytes(member.read())
    return script.read_text()


def serious_violations(browser: Any, source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (WCAG 2.x A/AA and best practices)."""
    browser.execute_script(source)
    violations: list[dict[str, Any]] = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [v for v in violations if v["impact"] in SERIOUS]
