"""The walkthrough done through the web UI, on a `meshctl dev --demo` of its own (issue 21):
http-server's three instances with passing checks, a deny intention http-client -> http-server
created in the form (the client's calls fail), deleted (they succeed again), and a failing health
check that shows up on the open page without a reload.

Needs MESH_BIN (the built executables) and Chromium, like test_ui.py.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from test_ui import browser, login, no_serious_violations, shot, wait  # noqa: F401  (the fixture)

BIN = os.environ.get("MESH_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="needs MESH_BIN")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo():
    """A `meshctl dev --demo` on a free port, stopped by PID."""
    port, token = _free_port(), str(uuid.uuid4())
    log_path = os.path.join(tempfile.mkdtemp(), "demo.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [os.path.join(BIN, "meshctl"), "dev", "--demo", "--http-addr", f"127.0.0.1:{port}",
             "--initial-management-token", token],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    text = ""
    deadline = time.monotonic() + 240
    while "ready: Consul-compatible API" not in text:
        assert process.poll() is None and time.monotonic() < deadline, text[-3000:]
        time.sleep(0.2)
        text = open(log_path, encoding="utf-8").read()
    upstream = int(re.search(r"demo-upstream (\d+)", text).group(1))
    instances = {
        m.group(1): {"app": int(m.group(2)), "netns": m.group(3)}
        for m in re.finditer(r"demo-instance (\S+) app=(\d+) .*? netns=(\S+)", text)
    }
    try:
        yield {"base": f"http://127.0.0.1:{port}", "token": token, "upstream": upstream, "instances": instances}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def call(port: int) -> bool:
    """One call through the client's upstream on a new connection: answered with 200 or not."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/", headers={"Connection": "close"})
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def until(predicate, what: str, seconds: float = 30):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def post_to_app(instance: dict, path: str) -> None:
    """POSTs to a server's app, from inside its network namespace when it has one."""
    url = f"http://127.0.0.1:{instance['app']}{path}"
    command = [os.path.join(BIN, "meshctl"), "demo", "post", url]
    if instance["netns"] != "-":
        command = ["ip", "netns", "exec", instance["netns"]] + command
    assert subprocess.run(command, capture_output=True, timeout=30).returncode == 0


def test_the_walkthrough_through_the_ui(browser, demo):  # noqa: F811  (the fixture)
    base = demo["base"]
    browser.get(f"{base}/ui/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{base}/ui/#/login")
    field = wait(browser, EC.presence_of_element_located((By.ID, "token")))
    field.send_keys(demo["token"])
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # The services page: http-server with its three instances, all passing.
    wait(browser, lambda d: "3" in d.find_element(By.LINK_TEXT, "http-server").find_element(By.XPATH, "./ancestor::tr").text)
    shot(browser, "walkthrough-services")
    browser.find_element(By.LINK_TEXT, "http-server").click()
    wait(browser, lambda d: all(f"http-server-{i}" in d.find_element(By.TAG_NAME, "main").text for i in (1, 2, 3)))
    wait(browser, lambda d: "critical" not in d.find_element(By.TAG_NAME, "main").text)
    no_serious_violations(browser, "walkthrough service")
    shot(browser, "walkthrough-service")
    assert call(demo["upstream"])

    # A failing health check shows up on the open page by itself, then recovers.
    server1 = demo["instances"]["http-server-1"]
    post_to_app(server1, "/fail")
    wait(browser, lambda d: "critical" in d.find_element(By.TAG_NAME, "main").text, 60)
    shot(browser, "walkthrough-failing-check")
    post_to_app(server1, "/recover")
    wait(browser, lambda d: "critical" not in d.find_element(By.TAG_NAME, "main").text, 60)

    # Deny http-client -> http-server in the form: the client's calls fail; delete it: they succeed.
    browser.find_element(By.LINK_TEXT, "Intentions").click()
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Intentions"))
    browser.find_element(By.ID, "source").send_keys("http-client")
    browser.find_element(By.ID, "destination").send_keys("http-server")
    Select(browser.find_element(By.ID, "action")).select_by_value("deny")
    create = browser.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    wait(browser, lambda d: create.is_enabled())
    create.click()
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "main"), "Saved: http-client → http-server (deny)"))
    until(lambda: not call(demo["upstream"]), "the deny to stop the client's calls")
    shot(browser, "walkthrough-deny")
    delete = wait(
        browser, EC.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='Delete http-client to http-server']"))
    )
    delete.click()
    until(lambda: call(demo["upstream"]), "the client's calls to succeed again")
