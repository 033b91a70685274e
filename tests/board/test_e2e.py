"""The journey board in a real browser: Debian's headless Chromium against the accountability service (a uvicorn
process on a free port) fed through the real broker. Sign in, watch pay go red live, open its alert, read the
evidence, acknowledge and resolve it, relabel a triage item, find each action in the audit log; axe-core finds no
serious or critical accessibility violation on any page; screenshots go to docs/images/."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from shared.models import utcnow
from shared.settings import KafkaSettings
from tests.accountability.factories import classified
from tests.accountability.harness import produce
from tests.board import browser as chromium
from tests.support import ENGINE, ROOT, ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
IMAGES = ROOT / "docs" / "images"
STAGES = ["discover", "buy", "onboard", "use", "pay", "get_help", "leave"]
TOKENS = {"ACCOUNTABILITY_READ_TOKEN": "e2e-read", "ACCOUNTABILITY_OPERATOR_TOKEN": "e2e-operator",
          "ACCOUNTABILITY_ADMIN_TOKEN": "e2e-admin"}  # fmt: skip


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = chromium.available()
    if missing:
        pytest.skip(missing)
    driver = chromium.driver()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def service(kafka: KafkaSettings, tmp_path: Path) -> Iterator[ServiceProcess]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_ENGINE": ENGINE,
        "JOURNEYLINE_TOPIC_PREFIX": kafka.topics.prefix,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'journeyline.db'}",
        "JOURNEYLINE_ENV": "development",
        "JOURNEYLINE_LOG_LEVEL": "WARNING",
        "ACCOUNTABILITY_SESSION_SECRET": "e2e-session-secret",
        "ACCOUNTABILITY_EVALUATE_INTERVAL_S": "1",
        "ACCOUNTABILITY_ALERT_WINDOW_REFRESH_S": "0",
        "ACCOUNTABILITY_THEMES_INTERVAL_S": "2",
        "ACCOUNTABILITY_THEMES_SETTLE_S": "0",
        **TOKENS,
    }
    process = ServiceProcess("accountability", env, tmp_path).start()
    try:
        yield process
    finally:
        process.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # a page being swapped under us: look again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def stored(service: ServiceProcess, ids: list[str]) -> bool:
    headers = {"Authorization": f"Bearer {TOKENS['ACCOUNTABILITY_READ_TOKEN']}"}
    return all(httpx.get(f"{service.url}/v1/feedback/{i}", headers=headers).status_code == 200 for i in ids)


async def test_an_operator_works_an_alert_and_the_triage_queue_in_chromium(
    kafka: KafkaSettings, service: ServiceProcess, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    axe = chromium.axe_source()
    checked: dict[str, list[dict[str, Any]]] = {}

    def accessible(name: str) -> None:
        checked[name] = chromium.serious_violations(browser, axe)

    def health(stage: str) -> str:
        return str(
            browser.find_element(By.CSS_SELECTOR, f'li.stage[data-stage="{stage}"]').get_attribute("data-health")
        )

    now = utcnow() - timedelta(seconds=5)
    calm = [classified(stage=s, label="positive", at=now, text=f"{s} went smoothly", customer="cust-7") for s in STAGES]
    for minutes in range(5, 60, 7):  # an hour of ordinary traffic with scores, for the scorecards and the chart
        at = now - timedelta(minutes=minutes)
        calm += [
            classified(stage=s, label="positive", at=at, text=f"{s} was quick and easy", scores={"csat": 5, "nps": 9})
            for s in STAGES
        ]
    calm += [classified(stage="get_help", label="negative", at=now, text="on hold for an hour", scores={"csat": 2})
             for _ in range(3)]  # fmt: skip
    triage = [
        classified(stage="unassigned", label="neutral", at=now, confidence=0.2, text="my thing is weird"),
        classified(stage="use", label="neutral", at=now, confidence=0.3, text="not sure where this goes"),
    ]
    await produce(kafka, calm + triage)
    wait_for(lambda: stored(service, [i.id for i in calm + triage]), "the calm items stored")

    # sign in: the board sends a stranger to the sign-in page and back
    browser.get(service.url + "/board?window=1h")
    assert "/board/login" in browser.current_url
    accessible("login")
    browser.find_element(By.ID, "name").send_keys("olga")
    browser.find_element(By.ID, "token").send_keys(TOKENS["ACCOUNTABILITY_OPERATOR_TOKEN"])
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "ol.journey li.stage"), "the board")
    assert "olga (operator)" in browser.find_element(By.CSS_SELECTOR, ".who").text
    shown = [li.get_attribute("data-stage") for li in browser.find_elements(By.CSS_SELECTOR, "ol.journey li.stage")]
    assert shown == STAGES, "the seven stages, left to right in journey order"
    assert health("pay") == "green"

    # pay goes bad: the open board turns it red by itself (it polls), colour and words both
    burst = [
        classified(stage="pay", label="negative", at=utcnow(), text="charged twice for my bill") for _ in range(30)
    ]
    await produce(kafka, burst)
    wait_for(lambda: health("pay") == "red", "pay to turn red on the open board", timeout=90)
    pay = browser.find_element(By.CSS_SELECTOR, 'li.stage[data-stage="pay"]')
    assert "At risk" in pay.text
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, 'li.stage[data-stage="pay"] a.alert-link'), "pay's alert")
    browser.get(service.url + "/board?window=1h")  # a settled page for the picture
    browser.save_screenshot(str(IMAGES / "board.png"))
    accessible("board")

    # the stage page: scorecard chart, alerts with their buttons, evidence
    def themes_shown() -> bool:
        browser.get(service.url + "/board/stages/pay?window=1h")
        return "Themes of Pay" in browser.page_source

    wait_for(themes_shown, "the theme job to rank pay's themes", timeout=30)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    assert "charged twice for my bill" in browser.find_element(By.ID, "evidence-h").find_element(By.XPATH, "..").text
    browser.set_window_size(1600, 2100)  # the whole page: chart, themes, alerts with their buttons, silences
    browser.save_screenshot(str(IMAGES / "stage.png"))
    browser.set_window_size(1600, 1000)
    accessible("stage")

    # the alert: its evidence, then acknowledge and resolve with notes
    links = browser.find_elements(By.CSS_SELECTOR, "ul.alert-list a.alert-link")
    next(a for a in links if a.text.startswith("Negative share")).click()
    wait_for(lambda: "/board/alerts/" in browser.current_url, "the alert page")
    alert_url = browser.current_url.split("?")[0]
    assert "charged twice for my bill" in browser.find_element(By.ID, "evidence-h").find_element(By.XPATH, "..").text
    assert "billing" in browser.find_element(By.ID, "who-h").find_element(By.XPATH, "..").text
    accessible("alert")
    browser.find_element(By.CSS_SELECTOR, "input[id^='ack-note-']").send_keys("looking at the payment provider")
    browser.find_element(By.CSS_SELECTOR, "button.ack").click()
    wait_for(lambda: "Alert acknowledged." in browser.find_element(By.CSS_SELECTOR, "p.notice").text, "ack notice")
    assert "Acknowledged" in browser.find_element(By.CSS_SELECTOR, "ol.lifecycle").text
    browser.find_element(By.CSS_SELECTOR, "input[id^='resolve-note-']").send_keys("duplicate charges refunded")
    browser.find_element(By.CSS_SELECTOR, "button.resolve").click()
    wait_for(lambda: "Alert resolved." in browser.find_element(By.CSS_SELECTOR, "p.notice").text, "resolve notice")
    browser.set_window_size(1600, 1400)
    browser.save_screenshot(str(IMAGES / "alert.png"))
    browser.set_window_size(1600, 1000)
    assert "Resolved" in browser.find_element(By.CSS_SELECTOR, "ol.lifecycle").text
    assert not browser.find_elements(By.CSS_SELECTOR, "button.resolve")

    # triage: relabel the least confident item with one click
    browser.get(service.url + "/board/triage")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.items tbody tr[data-id]")
    assert {r.get_attribute("data-id") for r in rows} == {i.id for i in triage}
    browser.save_screenshot(str(IMAGES / "triage.png"))
    accessible("triage")
    first = rows[0]
    moved = first.get_attribute("data-id")
    Select(first.find_element(By.CSS_SELECTOR, "select")).select_by_value("get_help")
    first.find_element(By.CSS_SELECTOR, "button.relabel-one").click()
    wait_for(lambda: "Moved 1 item(s) to get_help." in browser.find_element(By.CSS_SELECTOR, "p.notice").text, "moved")
    left = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-id]")]
    assert moved not in left

    # the customer's timeline across stages
    browser.get(service.url + "/board/customers?id=cust-7")
    assert "discover went smoothly" in browser.page_source and "leave went smoothly" in browser.page_source
    accessible("customer")
    browser.get(service.url + "/board/teams/billing")
    wait_for(lambda: "Accountable for" in browser.page_source, "the team page")
    accessible("team")

    # every action is in the audit log, by the person who did it
    browser.get(service.url + "/board/audit")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")
    actions = [(r.find_elements(By.TAG_NAME, "td")[2].text, r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows]
    for action in ("alert.ack", "alert.resolve", "feedback.relabel"):
        assert (action, "olga (operator)") in actions, actions
    assert any(alert_url.rsplit("/", 1)[1] in r.text for r in rows)
    accessible("audit")

    # a read session: the same pages, no buttons
    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait_for(lambda: "/board/login" in browser.current_url, "signed out")
    browser.get(service.url + "/board/login?next=/board/triage")
    browser.find_element(By.ID, "token").send_keys(TOKENS["ACCOUNTABILITY_READ_TOKEN"])
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    # The path, not the whole address: the login page's own address (`?next=/board/triage`) contains it too.
    wait_for(lambda: urlsplit(browser.current_url).path == "/board/triage", "the triage page as a reader")
    assert "Signed in as read" in browser.find_element(By.CSS_SELECTOR, ".who").text
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-id]") and not browser.find_elements(By.TAG_NAME, "select")
    browser.get(service.url + "/board/audit")
    assert "needs an operator sign-in" in browser.page_source
    accessible("error")

    assert set(checked) == {"login", "board", "stage", "alert", "triage", "customer", "team", "audit", "error"}
    assert {name: found for name, found in checked.items() if found} == {}, "serious or critical axe violations"
