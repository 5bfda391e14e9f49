"""The dashboard in a real browser (Debian's chromium + chromium-driver, through Selenium),
opened on a follower of a real 3-node cluster: it must follow the leader for every change.

``RCACHE_SCREENSHOT=docs/dashboard.png`` saves the screenshot the README shows."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from rcache.verify.nodes import free_port

from .conftest import ROOT, LocalCluster, wait_for

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1360,1250")
GREETING_ROW = '#keys tr[data-key="web:greeting"]'


def find(browser, css: str):
    return browser.find_element(By.CSS_SELECTOR, css)


def text(browser, css: str) -> str:
    return find(browser, css).text


def value(browser, css: str) -> str:
    return find(browser, css).get_attribute("value")


def rows(browser, css: str) -> list:
    return browser.find_elements(By.CSS_SELECTOR, css)


def click(browser, css: str) -> None:
    """Click the element, found again if the page re-rendered it in between (its tables are
    redrawn as they refresh, leaving a found row stale)."""
    wait_for(lambda: find(browser, css).click() or True, 10, f"a click on {css}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed in CI (.ci/run does)")
        pytest.skip("chromium or chromedriver is not installed (.ci/run installs them)")
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
    with LocalCluster(tmp_path, 3, http=True) as cluster:
        leader = cluster.leader()
        follower = cluster.followers()[0]
        r = leader.client()
        r.set("user:1", "alice")
        r.hset("user:2", mapping={"name": "bob", "plan": "pro"})
        r.set("session:9", "token", ex=3600)
        r.rpush("queue:jobs", "resize", "mail")

        browser.get(f"http://127.0.0.1:{follower.http_port}/")

        def member_roles() -> dict[str, str]:
            return {row.get_attribute("data-id"): row.find_element(By.CSS_SELECTOR, ".role").text
                    for row in rows(browser, "#members tbody tr")}
        roles = wait_for(lambda: len(found := member_roles()) == 3 and found, 30,
                         "three members")
        assert roles[leader.name] == "leader"
        assert sorted(roles.values()) == ["follower", "follower", "leader"]
        assert text(browser, "#node-role") == "follower"
        banner = text(browser, "#follower-banner")
        assert "not the leader" in banner and leader.name in banner
        assert f"127.0.0.1:{leader.http_port}" in banner

        # Existing keys are listed with their types, read through the leader.
        wait_for(lambda: text(browser, "#keys tbody").count("\n") >= 3, 15, "the key list")
        click(browser, '#keys tr[data-key="user:2"]')
        wait_for(lambda: '"plan": "pro"' in value(browser, "#key-value"), 15,
                 "the hash's fields")

        # Create.
        click(browser, "#new-key")
        find(browser, "#key-name").send_keys("web:greeting")
        find(browser, "#key-value").send_keys("hello from the browser")
        click(browser, "#save-key")
        wait_for(lambda: r.get("web:greeting") == b"hello from the browser", 15,
                 "the new key in redis-py")
        wait_for(lambda: rows(browser, GREETING_ROW),
                 15, "the new key in the list")

        # Edit, with a TTL.
        wait_for(lambda: find(browser, "#key-name").get_attribute("readonly") is not None, 15,
                 "the saved key to open")
        find(browser, "#key-value").clear()
        find(browser, "#key-value").send_keys("edited")
        find(browser, "#key-ttl").send_keys("300")
        click(browser, "#save-key")
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
        assert "writes/s" in text(browser, "#rates-now")
        find(browser, "#prefix").send_keys("user")
        click(browser, "#browse button[type=submit]")
        wait_for(lambda: "queue:jobs" not in text(browser, "#keys tbody"), 15, "the prefix filter")
        click(browser, '#keys tr[data-key="user:1"]')
        wait_for(lambda: value(browser, "#key-value") == "alice", 15, "user:1")
        screenshot = Path(os.environ.get("RCACHE_SCREENSHOT") or tmp_path / "dashboard.png")
        if not screenshot.is_absolute():
            screenshot = ROOT / screenshot
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        browser.execute_script("window.scrollTo(0, 0)")
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes().startswith(b"\x89PNG")

        # Delete, after confirming.
        find(browser, "#prefix").clear()
        find(browser, "#prefix").send_keys("web:")
        click(browser, "#browse button[type=submit]")
        wait_for(lambda: rows(browser, GREETING_ROW),
                 15, "the key in the full list")
        click(browser, GREETING_ROW)
        wait_for(lambda: value(browser, "#key-value") == "edited", 15, "the key")
        click(browser, "#delete-key")
        wait_for(lambda: find(browser, "#confirm").is_displayed(), 10, "the confirmation")
        assert "web:greeting" in text(browser, "#confirm-text")
        click(browser, "#confirm-ok")
        wait_for(lambda: r.exists("web:greeting") == 0, 15, "the deletion in redis-py")
        wait_for(lambda: not browser.find_elements(
            By.CSS_SELECTOR, GREETING_ROW), 15, "the row to go")

        # Leadership handed to the node the page is on, after a confirmation.
        make_leader = f'#members tr[data-id="{follower.name}"] button'
        assert wait_for(lambda: text(browser, make_leader), 10, "the button") == "Make leader"
        click(browser, make_leader)
        wait_for(lambda: find(browser, "#confirm").is_displayed(), 10, "the confirmation")
        assert follower.name in text(browser, "#confirm-text")
        click(browser, "#confirm-ok")
        wait_for(lambda: cluster.leader(timeout=5) is follower, 30, "the new leader")
        wait_for(lambda: text(browser, "#node-role") == "leader", 15, "the page to say so")
        assert find(browser, "#follower-banner").get_attribute("hidden") is not None

        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []


def test_dashboard_asks_for_the_password_once(browser, make_node) -> None:
    http_port = free_port()
    node = make_node("--http-port", str(http_port), "--requirepass", "s3cret")
    node.client(password="s3cret").set("user:1", "alice")

    browser.get(f"http://127.0.0.1:{http_port}/")
    wait_for(lambda: find(browser, "#login").is_displayed(), 30, "the password prompt")
    find(browser, "#password").send_keys("s3cret")
    click(browser, "#login-form button")
    wait_for(lambda: rows(browser, '#keys tr[data-key="user:1"]'), 30,
             "the keys, once signed in")
    assert find(browser, "#node-role").text == "leader"
    assert find(browser, "#follower-banner").get_attribute("hidden") is not None
    assert browser.execute_script("return sessionStorage.getItem('rcache-password')") == "s3cret"
    # Only the first, unauthenticated calls failed (401); none after the password was given.
    failed = [entry["message"] for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE"]
    assert failed and all("401" in message for message in failed), failed

    browser.refresh()  # same tab, same session: no second prompt
    wait_for(lambda: rows(browser, '#keys tr[data-key="user:1"]'), 30,
             "the keys after a reload")
    assert not find(browser, "#login").is_displayed()
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
