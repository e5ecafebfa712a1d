"""The web UI at /ui/ in a real browser (Debian's Chromium, headless, driven by Selenium) against
`meshctl dev`: login, the services page and a service's instances kept live by blocking queries,
nodes, the intentions form (create, delete) and a read-only token told why it cannot create;
served with its security headers; axe finds no serious or critical accessibility violation.
Screenshots of each page go to MESH_UI_SCREENSHOTS (default: a temporary folder, printed).

Needs CONSUL_HTTP_ADDR and MESH_TOKEN, like the rest of the suite.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid

import consul
import pytest
import requests
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_py_consul import BASE_URL, HOST, PORT, RAW_HEADERS, TOKEN, uniq

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN")

SHOTS = os.environ.get("MESH_UI_SCREENSHOTS") or tempfile.mkdtemp(prefix="mesh-ui-")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    print(f"UI screenshots in {SHOTS}")
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, condition, seconds: float = 20):
    """Awaits a condition on the page (Selenium polls the DOM); generous, since the machine is
    shared. A live list re-renders when its blocking query returns, so an element found a moment
    ago may be gone: the condition is then evaluated again."""
    return WebDriverWait(driver, seconds, ignored_exceptions=[StaleElementReferenceException]).until(condition)


def shot(driver, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def login(driver, token: str) -> None:
    driver.get(f"{BASE_URL}/ui/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{BASE_URL}/ui/#/login")
    field = wait(driver, EC.presence_of_element_located((By.ID, "token")))
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver, EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Services"))


def no_serious_violations(driver, page: str) -> None:
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    serious = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    assert not serious, f"{page}: {[(v['id'], v['help'], len(v['nodes'])) for v in serious]}"


def register(node: str, service: str, check_status: str, tags=None) -> None:
    body = {
        "Node": node,
        "Address": "10.9.8.7",
        "Service": {"ID": service, "Service": service, "Port": 8080, "Tags": tags or ["v1"]},
        "Checks": [
            {"CheckID": f"{service}-ttl", "Name": f"{service} ttl", "Status": check_status, "ServiceID": service,
             "Output": f"it is {check_status}"}
        ],
    }
    answer = requests.put(f"{BASE_URL}/v1/catalog/register", json=body, headers=RAW_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text


def test_the_ui_is_served_small_with_its_security_headers():
    page = requests.get(f"{BASE_URL}/ui/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    total = len(page.content)
    for asset, kind in [("app.js", "text/javascript"), ("app.css", "text/css")]:
        answer = requests.get(f"{BASE_URL}/ui/assets/{asset}", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(kind)
        total += len(answer.content)
        again = requests.get(
            f"{BASE_URL}/ui/assets/{asset}", headers={"If-None-Match": answer.headers["ETag"]}, timeout=10
        )
        assert again.status_code == 304 and not again.content
    assert total < 200 * 1024, f"first page is {total} bytes"
    assert requests.get(f"{BASE_URL}/ui/assets/../../v1/acl/tokens", timeout=10).status_code in (400, 403, 404)
    assert requests.get(f"{BASE_URL}/ui/assets/nope.js", timeout=10).status_code == 404
    assert requests.get(f"{BASE_URL}/ui", timeout=10).content == page.content


def test_the_services_summary_counts_instances_and_checks_and_follows_acls():
    """`/v1/internal/ui/services`, Consul's UI summary: one entry per service (a service with no
    check counts its instances too), a blocking query, filtered by the caller's token."""
    node, bare, checked = uniq("sum-node"), uniq("sum-bare"), uniq("sum-web")
    body = {"Node": node, "Address": "10.9.8.6", "Service": {"ID": bare, "Service": bare, "Port": 1, "Tags": ["x"]}}
    assert requests.put(f"{BASE_URL}/v1/catalog/register", json=body, headers=RAW_HEADERS, timeout=10).status_code == 200
    register(node, checked, "warning")
    answer = requests.get(f"{BASE_URL}/v1/internal/ui/services", headers=RAW_HEADERS, timeout=10)
    assert answer.status_code == 200 and int(answer.headers["X-Consul-Index"]) > 0
    by_name = {s["Name"]: s for s in answer.json()}
    assert by_name[bare]["InstanceCount"] == 1 and by_name[bare]["Tags"] == ["x"]
    assert by_name[bare]["ChecksPassing"] + by_name[bare]["ChecksWarning"] + by_name[bare]["ChecksCritical"] == 0
    assert by_name[checked]["InstanceCount"] == 1 and by_name[checked]["ChecksWarning"] == 1
    assert by_name[checked]["Nodes"] == [node]
    # Anonymous (default deny): nothing, and the header says it was filtered.
    anonymous = requests.get(f"{BASE_URL}/v1/internal/ui/services", timeout=10)
    assert anonymous.status_code == 200 and all(s["Name"] not in (bare, checked) for s in anonymous.json())
    # Blocking: a wait at the current index returns at the deadline with the same index.
    index = answer.headers["X-Consul-Index"]
    started = time.monotonic()
    quiet = requests.get(
        f"{BASE_URL}/v1/internal/ui/services?index={index}&wait=1s", headers=RAW_HEADERS, timeout=10
    )
    assert quiet.status_code == 200 and time.monotonic() - started >= 0.9


def test_without_a_token_the_ui_asks_for_one_and_refuses_a_bad_one(browser):
    browser.get(f"{BASE_URL}/ui/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{BASE_URL}/ui/#/services")
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Log in"))
    no_serious_violations(browser, "login")
    shot(browser, "login")
    field = browser.find_element(By.ID, "token")
    field.send_keys(str(uuid.uuid4()))
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(browser, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[role=alert]"), "Log in failed"))
    assert browser.execute_script("return sessionStorage.getItem('mesh-token')") is None


def test_services_and_a_service_update_live_without_reloading(browser):
    node, service = uniq("ui-node"), uniq("ui-web")
    register(node, service, "passing", tags=["<script>window.__owned = 1</script>"])
    login(browser, TOKEN)
    row_text = wait(
        browser,
        lambda d: d.find_element(By.LINK_TEXT, service).find_element(By.XPATH, "./ancestor::tr").text,
    )
    assert "passing" in row_text and "<script>" in row_text  # the tag is shown as text
    assert browser.execute_script("return window.__owned") is None
    no_serious_violations(browser, "services")
    shot(browser, "services")
    browser.find_element(By.LINK_TEXT, service).click()
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), service))
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "main"), "it is passing"))
    marker = browser.execute_script("window.__sameDocument = true; return true")
    # A check turns critical elsewhere: the page shows it by itself (a blocking query woke).
    register(node, service, "critical")
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "main"), "it is critical"))
    assert marker and browser.execute_script("return window.__sameDocument") is True, "the page was reloaded"
    no_serious_violations(browser, "service")
    shot(browser, "service")
    browser.find_element(By.LINK_TEXT, "Nodes").click()
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "main"), node))
    no_serious_violations(browser, "nodes")
    shot(browser, "nodes")


def test_intentions_are_created_and_deleted_in_the_form(browser):
    source, destination = uniq("ui-src"), uniq("ui-dst")
    login(browser, TOKEN)
    browser.find_element(By.LINK_TEXT, "Intentions").click()
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Intentions"))
    browser.find_element(By.ID, "source").send_keys(source)
    browser.find_element(By.ID, "destination").send_keys(destination)
    Select(browser.find_element(By.ID, "action")).select_by_value("deny")
    create = browser.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    wait(browser, lambda d: create.is_enabled())
    create.click()
    wait(browser, EC.text_to_be_present_in_element((By.TAG_NAME, "main"), f"Saved: {source} → {destination}"))
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    found = requests.get(
        f"{BASE_URL}/v1/connect/intentions/exact", params={"source": source, "destination": destination},
        headers=RAW_HEADERS, timeout=10,
    )
    assert found.status_code == 200 and found.json()["Action"] == "deny", found.text
    # The list shows it (live), and its Delete button removes it.
    delete = wait(
        browser, EC.element_to_be_clickable((By.CSS_SELECTOR, f"button[aria-label='Delete {source} to {destination}']"))
    )
    no_serious_violations(browser, "intentions")
    shot(browser, "intentions")
    delete.click()
    deadline = time.monotonic() + 20
    while requests.get(
        f"{BASE_URL}/v1/connect/intentions/exact", params={"source": source, "destination": destination},
        headers=RAW_HEADERS, timeout=10,
    ).status_code != 404:
        assert time.monotonic() < deadline, "the intention was not deleted"
        time.sleep(0.2)
    assert admin.agent is not None


def test_a_read_only_token_cannot_create_and_is_told_why(browser):
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    rules = {"service_prefix": {"": {"policy": "read", "intentions": "read"}}, "node_prefix": {"": {"policy": "read"}}}
    policy = admin.acl.policy.create(uniq("ui-read"), rules=rules)
    reader = admin.acl.token.create(description="ui read-only", policies_id=[policy["ID"]])["SecretID"]
    login(browser, reader)
    browser.find_element(By.LINK_TEXT, "Intentions").click()
    destination = browser.find_element(By.ID, "destination")
    destination.send_keys("web")
    browser.find_element(By.ID, "source").click()  # leaving the field checks the permission
    create = browser.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    wait(browser, lambda d: not create.is_enabled())
    reason = browser.find_element(By.ID, "create-reason").text
    assert "lacks intention:write" in reason, reason
    # Every Delete button of the list is disabled too, with its reason.
    assert admin.connect.intentions.upsert(uniq("ro-src"), "web", action="allow") is True
    def all_disabled_with_reason(d):
        deletes = d.find_elements(By.CSS_SELECTOR, "main table button")
        return bool(deletes) and all(
            not b.is_enabled() and "lacks intention:write" in (b.get_attribute("title") or "") for b in deletes
        )

    wait(browser, all_disabled_with_reason)
    shot(browser, "intentions-read-only")
    # The API refuses it too: the button is not the only guard.
    answer = requests.put(
        f"{BASE_URL}/v1/connect/intentions/exact?source=a&destination=web",
        json={"Action": "allow"}, headers={"X-Consul-Token": reader}, timeout=10,
    )
    assert answer.status_code == 403
