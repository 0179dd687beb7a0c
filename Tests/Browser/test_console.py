"""The management console at /console, in a real headless Chromium against a real daemon."""
import json
import urllib.error
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import APPKEY, OPERATOR, OPERATOR_PASSWORD, SECRET, Daemon
from helpers import (console_sign_in_app, console_sign_in_operator, fill, find, text_in, wait)


def test_sign_in_as_an_app_sees_only_that_app(daemon, browser, screenshots):
    daemon.rest("POST", "/v1/users", [{"username": "alice", "password": "alice-pass"}], expect=201)
    daemon.rest("POST", "/v1/admins", {"username": "ops_admin", "password": "admin-pass"}, expect=201)
    for text in ("one", "two", "three"):
        daemon.rest("POST", "/v1/messages", {"version": 1, "target_type": "single", "target_id": "alice",
                                             "from_type": "admin", "from_id": "ops_admin", "msg_type": "text",
                                             "msg_body": {"text": text}}, expect=201)
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    assert browser.find_element(By.ID, "who").text == f"app {APPKEY}"
    options = browser.find_elements(By.CSS_SELECTOR, "#app-select option")
    assert [o.get_attribute("value") for o in options] == [APPKEY]
    text_in(browser, "#stats", "Users")
    find(browser, "svg.chart")
    bars = [e.get_attribute("textContent") for e in browser.find_elements(By.CSS_SELECTOR, "svg.chart rect title")]
    assert len(bars) == 1 and bars[0].endswith(": 3 text"), bars
    text_in(browser, ".chart-box figcaption", "3 messages in 14 days")
    users = browser.find_elements(By.CSS_SELECTOR, "#stats .stat")[0]
    assert users.find_element(By.CSS_SELECTOR, ".value").text == "1"
    screenshots(browser, "console-dashboard")
    # An app's session may not create apps or reload: the Apps screen has no form, the API refuses.
    browser.find_element(By.ID, "nav-apps").click()
    find(browser, "#apps-table")
    assert not browser.find_elements(By.ID, "create-app")


def test_wrong_secret_is_refused_and_shown(daemon, browser):
    browser.get(daemon.url + "/console")
    form = find(browser, "#signin-app")
    fill(form, appkey=APPKEY, master_secret="wrong")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#signin-error", "899008")
    assert not browser.find_elements(By.ID, "who")


def test_operator_creates_an_app_usable_at_once_and_after_a_restart(daemon, browser, screenshots):
    console_sign_in_operator(browser, daemon, OPERATOR, OPERATOR_PASSWORD)
    assert browser.find_element(By.ID, "who").text == f"operator {OPERATOR}"
    browser.find_element(By.ID, "nav-apps").click()
    form = find(browser, "#create-app")
    fill(form, name="Second app")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    appkey = find(browser, "#new-appkey").text
    secret = browser.find_element(By.ID, "new-secret").text
    row = find(browser, f'#apps-table tr[data-appkey="{appkey}"]')
    assert "created here" in row.text
    assert "bots.yaml" in find(browser, f'#apps-table tr[data-appkey="{APPKEY}"]').text
    screenshots(browser, "console-apps")
    # Usable by the REST API right away, with the secret shown once.
    daemon.rest("POST", "/v1/users", [{"username": "carol", "password": "carol-pass"}], appkey=appkey, secret=secret,
                expect=201)
    # Durable: still there, with its user, after a restart.
    daemon.stop()
    daemon.start()
    status, body = daemon.rest("GET", "/v1/users/carol", appkey=appkey, secret=secret)
    assert status == 200 and body["username"] == "carol"
    # The new app's secret reaches that app only.
    status, _ = daemon.rest("GET", "/v1/users/carol", appkey=APPKEY, secret=secret)
    assert status == 401


def test_register_users_from_a_csv_with_one_bad_row(daemon, browser, screenshots, tmp_path):
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-users").click()
    csv = tmp_path / "users.csv"
    csv.write_text('username,password,nickname\nuser_one,pass-one,One\nx,pass-two,Too short\n'
                   'user_three,pass-three,"Three, with a comma"\n')
    find(browser, "#csv-file").send_keys(str(csv))
    wait(browser, lambda d: "user_one" in d.find_element(By.ID, "csv-text").get_attribute("value"))
    browser.find_element(By.CSS_SELECTOR, "#register-csv button[type=submit]").click()
    text_in(browser, "#csv-summary", "2 registered, 1 failed")
    bad = browser.find_element(By.CSS_SELECTOR, '#csv-rows tr[data-line="3"]')
    assert "failed" in bad.get_attribute("class")
    assert "899003" in bad.text and "username" in bad.text
    assert browser.find_element(By.CSS_SELECTOR, '#csv-rows tr[data-line="2"]').text.endswith("registered")
    text_in(browser, "#users-table", "Three, with a comma")
    text_in(browser, "#users-count", "of 3")
    browser.execute_script("document.getElementById('csv-text').scrollIntoView()")
    screenshots(browser, "console-users-csv")
    status, body = daemon.rest("GET", "/v1/users/user_three")
    assert status == 200 and body["nickname"] == "Three, with a comma"
    assert daemon.rest("GET", "/v1/users/x")[0] == 404


def test_user_actions_edit_forbid_password_delete(daemon, browser):
    daemon.rest("POST", "/v1/users", [{"username": "dave", "password": "dave-pass"}], expect=201)
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-users").click()
    row = find(browser, '#users-table tr[data-username="dave"]')
    row.find_element(By.XPATH, ".//button[text()='Edit']").click()
    form = find(browser, "#edit-user")
    fill(form, nickname="Dave D.")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, '#users-table tr[data-username="dave"] .nickname', "Dave D.")
    assert daemon.rest("GET", "/v1/users/dave")[1]["nickname"] == "Dave D."
    row = browser.find_element(By.CSS_SELECTOR, '#users-table tr[data-username="dave"]')
    row.find_element(By.XPATH, ".//button[text()='Forbid']").click()
    text_in(browser, "#users-result", "dave is forbidden")
    row.find_element(By.XPATH, ".//button[text()='Reset password']").click()
    form = find(browser, "#reset-password")
    fill(form, new_password="x")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The hub's rule and code, as the REST API answers them.
    text_in(browser, "#users-result", "899003")
    browser.find_element(By.CSS_SELECTOR, '#users-table tr[data-username="dave"]').find_element(
        By.XPATH, ".//button[text()='Status']").click()
    text_in(browser, "#user-detail", "Never logged in")


def test_create_a_group_and_change_its_members(daemon, browser, screenshots):
    daemon.rest("POST", "/v1/users", [{"username": u, "password": "pass-" + u} for u in ("gina", "hank", "ivan")],
                expect=201)
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-groups").click()
    form = find(browser, "#create-group")
    fill(form, owner_username="gina", name="Team", members="hank")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#groups-result", "created group")
    row = find(browser, "#groups-table tbody tr")
    assert "Team" in row.text and "gina" in row.text
    row.find_element(By.XPATH, ".//button[text()='Members']").click()
    text_in(browser, "#group-members", "hank")
    members = find(browser, "#group-members-form")
    fill(members, add="ivan", remove="hank")
    members.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#group-members", "ivan")
    wait(browser, lambda d: "hank" not in d.find_element(By.ID, "group-members").text)
    screenshots(browser, "console-groups")
    # A member that does not exist: the hub's error, shown.
    members = find(browser, "#group-members-form")
    fill(members, add="nobody_here", remove="")
    members.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#groups-result", "899002")


def test_send_as_admin_and_browse_history(daemon, browser):
    daemon.rest("POST", "/v1/users", [{"username": "judy", "password": "judy-pass"}], expect=201)
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-messages").click()
    admin = find(browser, "#register-admin")
    fill(admin, username="ops_admin", password="admin-pass")
    admin.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#admin-result", "registered admin ops_admin")
    send = browser.find_element(By.ID, "send-message")
    fill(send, from_id="ops_admin", target_id="judy", text="hello judy")
    send.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#send-result", "msg_id")
    fill(send, from_id="judy", target_id="ops_admin", text="not an admin")
    send.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#send-result", "899")
    history = browser.find_element(By.ID, "history-form")
    fill(history, id="judy")
    history.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#history-table", "hello judy")


def test_sensitive_words(daemon, browser):
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-words").click()
    form = find(browser, "#add-word")
    fill(form, word="badword")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#words-table", "badword")
    browser.find_element(By.ID, "words-toggle").click()
    text_in(browser, "#words-status", "The filter is on")
    status, body = daemon.rest("GET", "/v1/sensitiveword/status")
    assert body["status"] == 1


def test_reload_of_a_broken_bots_yaml_shows_line_and_column_and_changes_nothing(daemon, browser, screenshots):
    console_sign_in_operator(browser, daemon, OPERATOR, OPERATOR_PASSWORD)
    browser.find_element(By.ID, "nav-bots").click()
    row = find(browser, '#bots-table tr[data-bot="echo"]')
    assert "echo_bot" in row.text
    good = daemon.config.read_text()
    broken = good.replace("      - swift: echo\n", "      - swift: echo\n        colour: blue\n")
    assert broken != good
    daemon.config.write_text(broken)
    line = broken.splitlines().index("        colour: blue") + 1
    browser.find_element(By.ID, "reload").click()
    error = find(browser, "#reload-error")
    assert f"bots.yaml:{line}:9:" in error.text, error.text
    text_in(browser, "#reload-result", "nothing changed")
    screenshots(browser, "console-bots-reload")
    # Nothing changed: the echo bot still runs (it answers over the gateway).
    daemon.config.write_text(good)
    browser.find_element(By.ID, "reload").click()
    text_in(browser, "#reload-result", "Reloaded")


def test_keyboard_only_sign_in_and_navigation(daemon, browser):
    browser.get(daemon.url + "/console")
    field = find(browser, "#signin-app input[name=appkey]")
    assert browser.switch_to.active_element == field
    field.send_keys(APPKEY, Keys.TAB, SECRET, Keys.ENTER)
    find(browser, "#who")
    nav = browser.find_element(By.ID, "nav-users")
    nav.send_keys(Keys.ENTER)
    find(browser, "#users-table")
    assert browser.current_url.endswith("#users")


def test_phone_width(daemon, browser, screenshots):
    browser.set_window_size(390, 844)
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    find(browser, "#stats")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at phone width"
    assert browser.find_element(By.ID, "nav-bots").is_displayed()
    screenshots(browser, "console-phone")


def test_the_javascript_error_check_can_fail(daemon, browser):
    from conftest import javascript_errors
    browser.get(daemon.url + "/console")
    find(browser, "#signin-app")
    assert javascript_errors(browser) == []
    browser.execute_script("setTimeout(() => { throw new Error('deliberate') }, 0)")
    errors = wait(browser, lambda d: javascript_errors(d))
    assert "deliberate" in errors[0]["message"]


# The HTTP side of the console's security, without a browser.

def _request(daemon, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(daemon.url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_session_cookie_csrf_origin_and_sign_in_limit(daemon):
    status, headers, text = _request(daemon, "GET", "/console")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script" in text and "<script>" not in text  # only external modules
    status, headers, text = _request(daemon, "POST", "/console/api/session", {"appkey": APPKEY, "master_secret": SECRET})
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    csrf = json.loads(text)["csrf"]
    base = f"/console/api/apps/{APPKEY}/rest"
    # A read needs the cookie only; a change also the CSRF token, from the same origin.
    assert _request(daemon, "GET", base + "/v1/users?start=0&count=5", headers={"Cookie": session})[0] == 200
    body = [{"username": "eve_user", "password": "eve-pass"}]
    assert _request(daemon, "POST", base + "/v1/users", body, headers={"Cookie": session})[0] == 403
    assert _request(daemon, "POST", base + "/v1/users", body,
                    headers={"Cookie": session, "X-CSRF-Token": "wrong"})[0] == 403
    assert _request(daemon, "POST", base + "/v1/users", body,
                    headers={"Cookie": session, "X-CSRF-Token": csrf, "Origin": "http://evil.example"})[0] == 403
    status, _, text = _request(daemon, "POST", base + "/v1/users", body,
                               headers={"Cookie": session, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert status == 201 and json.loads(text) == [{"username": "eve_user"}]
    # The REST API's own errors and codes come through unchanged.
    status, _, text = _request(daemon, "POST", base + "/v1/users", body,
                               headers={"Cookie": session, "X-CSRF-Token": csrf})
    assert status == 201 and json.loads(text)[0]["error"]["code"] == 899001
    # An app's session reaches that app only, and may not create apps.
    assert _request(daemon, "GET", "/console/api/apps/otherappkey000000000000/rest/v1/users?start=0&count=5",
                    headers={"Cookie": session})[0] == 403
    assert _request(daemon, "POST", "/console/api/apps", {"name": "x"},
                    headers={"Cookie": session, "X-CSRF-Token": csrf})[0] == 403
    # Without a session: 401.
    assert _request(daemon, "GET", base + "/v1/users?start=0&count=5")[0] == 401
    # Five failed sign-ins of an operator, then even the right password is refused for a while.
    for _ in range(5):
        assert _request(daemon, "POST", "/console/api/session", {"operator": OPERATOR, "password": "nope"})[0] == 401
    assert _request(daemon, "POST", "/console/api/session",
                    {"operator": OPERATOR, "password": OPERATOR_PASSWORD})[0] == 429
    # Signing out ends the session.
    assert _request(daemon, "DELETE", "/console/api/session", headers={"Cookie": session, "X-CSRF-Token": csrf})[0] == 200
    assert _request(daemon, "GET", base + "/v1/users?start=0&count=5", headers={"Cookie": session})[0] == 401


def test_bridge_screen_without_rules(daemon, browser):
    console_sign_in_operator(browser, daemon, OPERATOR, OPERATOR_PASSWORD)
    browser.find_element(By.ID, "nav-bridge").click()
    text_in(browser, "#screen", "No bridge rule for this app")
    form = find(browser, "#receipts-form")
    fill(form, ids="12345")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    find(browser, "#receipts table")
