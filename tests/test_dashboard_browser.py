"""The dashboard in a real headless browser (Debian's chromium, driven by Selenium through
chromium-driver; .ci/run installs both): the counts change live when tasks are enqueued,
a dead letter is requeued by a click (through the confirmation), and a SIGKILLed worker's
row shows it reaped. ``WORQR_SCREENSHOTS=DIR`` saves the pages the docs show."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.cli_helpers import spawn_worqr
from tests.runtime_helpers import FAST, LONG
from worqr import Worqr

MakeWorqr = Callable[..., Worqr]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
    ),
]
SHOTS = os.environ.get("WORQR_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert CHROMIUM is not None and DRIVER is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def dashboard(redis_url: str, worqr_prefix: str, worqr_processes: list[subprocess.Popen[str]]) -> Iterator[str]:
    """``worqr dashboard --allow-actions`` as a real process; its URL."""
    server = spawn_worqr(
        worqr_processes, "--redis", redis_url, "--prefix", worqr_prefix, "--json",
        "dashboard", "--port", "0", "--allow-actions",
    )  # fmt: skip
    assert server.stdout is not None
    yield json.loads(server.stdout.readline())["dashboard"]
    server.send_signal(signal.SIGTERM)
    assert server.wait(LONG) == 0


def wait_for_text(browser: WebDriver, css: str, text: str) -> None:
    WebDriverWait(browser, LONG).until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def shot(browser: WebDriver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SHOTS) / name))


def test_the_counts_change_live_when_tasks_are_enqueued(
    browser: WebDriver, dashboard: str, make_worqr: MakeWorqr
) -> None:
    producer = make_worqr(**FAST)
    producer.enqueue("mail", ["first"])
    browser.get(dashboard)
    cell = 'tr[data-queue="mail"] td[data-field="queued"]'
    wait_for_text(browser, cell, "1")
    producer.enqueue("mail", [f"t{i}" for i in range(41)])
    wait_for_text(browser, cell, "42")  # no reload: the page polls
    assert browser.find_element(By.CSS_SELECTOR, 'tr[data-queue="mail"] td[data-field="enqueued"]').text == "42"


def test_a_dead_letter_is_requeued_by_a_click(browser: WebDriver, dashboard: str, make_worqr: MakeWorqr) -> None:
    worker = make_worqr(**FAST)
    worker.start_worker()
    worker.enqueue("mail", ["to bob", "to carol"])
    worker.start_work("mail")
    failing = worker.dequeue("mail")
    assert failing is not None
    worker.fail_process(failing.id, ValueError("mailbox full"), max_attempts=1)
    (letter,) = worker.get_dead_letters("mail")
    browser.get(f"{dashboard}queue?name=mail")
    row = f'tr[data-dead="{letter.id}"]'
    wait_for_text(browser, f'{row} td[data-field="error"]', "ValueError: mailbox full")
    shot(browser, "dashboard-queue.png")
    browser.find_element(By.CSS_SELECTOR, f"{row} button.requeue").click()
    WebDriverWait(browser, LONG).until(expected_conditions.alert_is_present())
    alert = browser.switch_to.alert
    assert alert.text == f"Requeue dead letter {letter.id} to the back of mail?"
    alert.accept()
    WebDriverWait(browser, LONG).until(lambda b: not b.find_elements(By.CSS_SELECTOR, row))
    wait_for_text(browser, '#counts td[data-field="requeued"]', "1")
    assert worker.count_dead_letters("mail") == 0
    assert worker.get_tasks("mail") == ["to carol", "to bob"]


def test_a_sigkilled_workers_row_shows_it_reaped(
    browser: WebDriver, dashboard: str, redis_url: str, worqr_prefix: str, make_worqr: MakeWorqr
) -> None:
    peer = make_worqr(**{**FAST, "cleanup_interval": 0.3})
    peer.start_worker()  # its cleanup reaps the killed worker
    peer.enqueue("mail", ["x"])
    program = (
        "import sys, time\n"
        "from worqr import Worqr\n"
        f"wq = Worqr(redis={redis_url!r}, prefix={worqr_prefix!r}, worker_timeout=1.0, heartbeat_interval=0.2)\n"
        "wq.start_worker(); wq.start_work('mail'); wq.dequeue('mail')\n"
        "print(wq.worker_id, flush=True)\n"
        "time.sleep(600)\n"
    )
    doomed = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    try:
        assert doomed.stdout is not None
        worker_id = doomed.stdout.readline().strip()
        browser.get(dashboard)
        label = f'tr[data-worker="{worker_id}"] td[data-field="label"]'
        wait_for_text(browser, label, "alive")
        assert (
            browser.find_element(By.CSS_SELECTOR, f'tr[data-worker="{worker_id}"] td[data-field="in_flight"]').text
            == "1"
        )
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(LONG)
        wait_for_text(browser, label, "reaped")
        shot(browser, "dashboard-overview.png")
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.wait(LONG)
        if doomed.stdout is not None:
            doomed.stdout.close()
    wait_for_text(browser, 'tr[data-queue="mail"] td[data-field="queued"]', "1")  # its task went back
