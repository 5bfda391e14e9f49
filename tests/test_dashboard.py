"""The dashboard in a real browser (Debian's chromium + chromium-driver, through Selenium),
opened on a follower of a real 3-node cluster: it must follow the leader for every change.

``RCACHE_SCREENSHOT=docs/dashboard.png`` saves the screenshot the README shows."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, LocalCluster, wait_for

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1360,1250")
GREETING_ROW = '#keys tr[data-key="web:greeting"]'


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed in CI (.ci/run does)")
        pytest.skip("chromium or chromedriver is not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_dashboard_follows_the_leader_and_edits_keys(browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    cluster = LocalCluster(tmp_path, 3, http=True).start()
    try:
        leader = cluster.leader()
        follower = cluster.followers()[0]
        r = leader.client()
        r.set("user:1", "alice")
        r.hset("user:2", mapping={"name": "bob", "plan": "pro"})
        r.set("session:9", "token", ex=3600)
        r.rpush("queue:jobs", "resize", "mail")

        def find(css: str):
            return browser.find_element(By.CSS_SELECTOR, css)

        def text(css: str) -> str:
            return find(css).text

        browser.get(f"http://127.0.0.1:{follower.http_port}/")
        rows = wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#members tbody tr"))
                        == 3 and browser.find_elements(By.CSS_SELECTOR, "#members tbody tr"),
                        30, "three members on the page")
        roles = {row.get_attribute("data-id"): row.find_element(By.CSS_SELECTOR, ".role").text
                 for row in rows}
        assert roles[leader.name] == "leader"
        assert sorted(roles.values()) == ["follower", "follower", "leader"]
        assert text("#node-role") == "follower"
        banner = text("#follower-banner")
        assert "not the leader" in banner and leader.name in banner
        assert f"127.0.0.1:{leader.http_port}" in banner

        # Existing keys are listed with their types, read through the leader.
        wait_for(lambda: text("#keys tbody").count("\n") >= 3, 15, "the key list")
        find('#keys tr[data-key="user:2"]').click()
        wait_for(lambda: '"plan": "pro"' in find("#key-value").get_attribute("value"), 15,
                 "the hash's fields")

        # Create.
        find("#new-key").click()
        find("#key-name").send_keys("web:greeting")
        find("#key-value").send_keys("hello from the browser")
        find("#save-key").click()
        wait_for(lambda: r.get("web:greeting") == b"hello from the browser", 15,
                 "the new key in redis-py")
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, GREETING_ROW),
                 15, "the new key in the list")

        # Edit, with a TTL.
        wait_for(lambda: find("#key-name").get_attribute("readonly") is not None, 15,
                 "the saved key to open")
        find("#key-value").clear()
        find("#key-value").send_keys("edited")
        find("#key-ttl").send_keys("300")
        find("#save-key").click()
        wait_for(lambda: r.get("web:greeting") == b"edited", 15, "the edit in redis-py")
        assert 0 < r.ttl("web:greeting") <= 300

        # Traffic for the chart: the page samples the leader's /metrics every 2 s.
        def samples() -> int:
            return browser.execute_script("return state.samples.length")
        for round_ in range(4):
            seen = samples()
            r.mset({f"load:{round_}:{i}": i for i in range(50)})
            for i in range(100):
                r.set(f"load:{round_}", i)
                for _ in range(3):
                    r.get(f"load:{round_}")
            wait_for(lambda seen=seen: samples() > seen, 15, "a new rate sample")
        assert "writes/s" in text("#rates-now")
        find("#prefix").send_keys("user")
        find("#browse button[type=submit]").click()
        wait_for(lambda: "queue:jobs" not in text("#keys tbody"), 15, "the prefix filter")
        find('#keys tr[data-key="user:1"]').click()
        wait_for(lambda: find("#key-value").get_attribute("value") == "alice", 15, "user:1")
        screenshot = Path(os.environ.get("RCACHE_SCREENSHOT") or tmp_path / "dashboard.png")
        if not screenshot.is_absolute():
            screenshot = ROOT / screenshot
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        browser.execute_script("window.scrollTo(0, 0)")
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes().startswith(b"\x89PNG")

        # Delete, after confirming.
        find("#prefix").clear()
        find("#prefix").send_keys("web:")
        find("#browse button[type=submit]").click()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, GREETING_ROW),
                 15, "the key in the full list")
        find(GREETING_ROW).click()
        wait_for(lambda: find("#key-value").get_attribute("value") == "edited", 15, "the key")
        find("#delete-key").click()
        wait_for(lambda: find("#confirm").is_displayed(), 10, "the confirmation")
        assert "web:greeting" in text("#confirm-text")
        find("#confirm-ok").click()
        wait_for(lambda: r.exists("web:greeting") == 0, 15, "the deletion in redis-py")
        wait_for(lambda: not browser.find_elements(
            By.CSS_SELECTOR, GREETING_ROW), 15, "the row to go")

        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
    finally:
        cluster.stop()
