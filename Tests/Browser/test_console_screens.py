"""The console's Chatrooms screen, group silence, ending a user's sessions, the Bots screen's per-plugin state, the
Bridge screen's recent pushes, and the chat's older messages, in a real headless Chromium against a real daemon."""
import json

from selenium.webdriver.common.by import By

from conftest import APPKEY, OPERATOR, OPERATOR_PASSWORD, SECRET, Daemon, bots_yaml
from helpers import (Gateway, chat_sign_in, console_sign_in_app, console_sign_in_operator, fill, find, message_texts,
                     open_conversation, text_in, wait)


def register(daemon, *names):
    _, results = daemon.rest("POST", "/v1/users", [{"username": u, "password": f"{u}-pass"} for u in names], expect=201)
    assert all("error" not in r for r in results), results


def member_row(driver, table, name):
    # Waits for the row: the members table is filled by a request after the Members button's click.
    return find(driver, f'#{table} tr[data-member="{name}"]')


def test_chatrooms_create_members_silence_owner_and_delete(daemon, browser, screenshots):
    register(daemon, "rhea", "saul", "tara", "uwe_")
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-chatrooms").click()
    form = find(browser, "#create-room")
    fill(form, owner_username="rhea", name="Lobby", members="saul", description="<b>all</b> welcome")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#rooms-result", "created chatroom")
    row = find(browser, "#rooms-table tbody tr")
    room_id = int(row.get_attribute("data-room"))
    assert "Lobby" in row.text and "<b>all</b> welcome" in row.text  # shown as text
    row.find_element(By.XPATH, ".//button[text()='Members']").click()
    find(browser, '#room-members tr[data-member="saul"]')
    members = find(browser, "#room-members-form")
    fill(members, add="tara, uwe_", remove="saul")
    members.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    find(browser, '#room-members tr[data-member="uwe_"]')
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, '#room-members tr[data-member="saul"]'))
    _, body = daemon.rest("GET", f"/v1/chatroom/{room_id}/members?start=0&count=10", expect=200)
    assert {u["username"] for u in body["users"]} >= {"tara", "uwe_"} and "saul" not in {u["username"] for u in body["users"]}
    # Silence a member: the REST API's forbidden call; the member's send is then refused by the hub.
    member_row(browser, "room-members", "tara").find_element(By.CSS_SELECTOR, "button.silence").click()
    wait(browser, lambda d: member_row(d, "room-members", "tara").find_element(By.CSS_SELECTOR, ".silenced").text == "yes")
    tara = Gateway(daemon, APPKEY, "tara", "tara-pass")
    try:
        tara.n += 1
        tara.ws.send(json.dumps({"op": "send", "id": "x1", "request_id": "r-x1", "target_type": "chatroom",
                                 "target_id": str(room_id), "msg_type": "text", "msg_body": {"text": "hi"}}))
        while True:
            frame = json.loads(tara.ws.recv())
            if frame.get("id") == "x1":
                break
        assert frame["op"] == "error" and frame["code"] == 847002, frame
    finally:
        tara.close()
    # Transfer the owner.
    owner = find(browser, "#room-owner-form")
    fill(owner, owner_username="uwe_")
    owner.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#rooms-result", "uwe_ owns chatroom")
    _, rooms = daemon.rest("POST", "/v1/chatroom/batch", [room_id], expect=200)
    assert rooms[0]["owner_username"] == "uwe_"
    row = browser.find_element(By.CSS_SELECTOR, f'#rooms-table tr[data-room="{room_id}"]')
    assert row.find_element(By.CSS_SELECTOR, ".room-owner").text == "uwe_"
    assert row.find_element(By.CSS_SELECTOR, ".room-count").text == str(rooms[0]["total_member_count"])
    screenshots(browser, "console-chatrooms")
    # An unknown member: the hub's error, shown.
    members = find(browser, "#room-members-form")
    fill(members, add="nobody_here", remove="")
    members.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#rooms-result", "899002")
    # Delete.
    browser.execute_script("window.confirm = () => true")
    find(browser, f'#rooms-table tr[data-room="{room_id}"]').find_element(By.XPATH, ".//button[text()='Delete']").click()
    text_in(browser, "#rooms-result", f"chatroom {room_id} deleted")
    assert not browser.find_elements(By.CSS_SELECTOR, f'#rooms-table tr[data-room="{room_id}"]')
    assert daemon.rest("POST", "/v1/chatroom/batch", [room_id])[1] == []


def test_group_member_silence_and_owner_transfer(daemon, browser):
    register(daemon, "vera", "walt")
    _, group = daemon.rest("POST", "/v1/groups", {"owner_username": "vera", "name": "Crew", "members_username": ["walt"]},
                           expect=201)
    gid = group["gid"]
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-groups").click()
    find(browser, f'#groups-table tr[data-gid="{gid}"]').find_element(By.XPATH, ".//button[text()='Members']").click()
    member_row(browser, "group-members", "walt").find_element(By.CSS_SELECTOR, "button.silence").click()
    wait(browser, lambda d: member_row(d, "group-members", "walt").find_element(By.CSS_SELECTOR, ".silenced").text == "yes")
    _, members = daemon.rest("GET", f"/v1/groups/{gid}/members", expect=200)
    assert [m["silenced"] for m in members if m["username"] == "walt"] == [True]
    member_row(browser, "group-members", "walt").find_element(By.CSS_SELECTOR, "button.silence").click()
    wait(browser, lambda d: member_row(d, "group-members", "walt").find_element(By.CSS_SELECTOR, ".silenced").text == "no")
    owner = find(browser, "#group-owner-form")
    fill(owner, username="walt")
    owner.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda d: "owner" in member_row(d, "group-members", "walt").text)
    _, body = daemon.rest("GET", f"/v1/groups/{gid}", expect=200)
    assert body["owner_username"] == "walt"
    text_in(browser, f'#groups-table tr[data-gid="{gid}"] .group-owner', "walt")


def test_a_users_devices_and_ending_its_session(daemon, browser, screenshots):
    register(daemon, "mona")
    # The user's session: the chat in one tab.
    chat_sign_in(browser, daemon, APPKEY, "mona", "mona-pass")
    chat_tab = browser.current_window_handle
    # Another device of hers, through the gateway.
    phone = Gateway(daemon, APPKEY, "mona", "mona-pass", device="phone")
    browser.switch_to.new_window("tab")
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-users").click()
    find(browser, '#users-table tr[data-username="mona"]').find_element(By.XPATH, ".//button[text()='Status']").click()
    find(browser, '#user-devices tr[data-device="phone"]')
    web = [r for r in browser.find_elements(By.CSS_SELECTOR, "#user-devices tbody tr")
           if r.get_attribute("data-device").startswith("web-")]
    assert len(web) == 1 and web[0].find_element(By.CSS_SELECTOR, ".online").text == "yes"
    screenshots(browser, "console-users-sessions")
    # End the web session only: the chat is told, and does not log in again by itself.
    web[0].find_element(By.CSS_SELECTOR, "button.end-session").click()
    text_in(browser, "#sessions-result", "1 session of mona ended")

    def web_online(d):  # the Status button reads userstat again
        d.find_element(By.CSS_SELECTOR, '#users-table tr[data-username="mona"]').find_element(
            By.XPATH, ".//button[text()='Status']").click()
        return [r.find_element(By.CSS_SELECTOR, ".online").text for r in d.find_elements(By.CSS_SELECTOR, "#user-devices tbody tr")
                if r.get_attribute("data-device").startswith("web-")]
    wait(browser, lambda d: web_online(d) == ["no"])
    browser.switch_to.window(chat_tab)
    wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "closed")
    text_in(browser, "#notice", "session ended by an administrator")
    # The phone is still online; "End all sessions" ends it: its socket gets the fatal error, then the close.
    _, stat = daemon.rest("GET", "/v1/users/mona/userstat", expect=200)
    assert stat["online"] is True
    browser.switch_to.window(browser.window_handles[1])
    find(browser, "#end-all-sessions").click()
    text_in(browser, "#sessions-result", "1 session of mona ended")
    frame = json.loads(phone.ws.recv())
    assert frame["op"] == "error" and frame["fatal"] is True and frame["code"] == 899007, frame
    phone.close()
    wait(browser, lambda d: daemon.rest("GET", "/v1/users/mona/userstat")[1]["online"] is False)


def test_ending_sessions_needs_the_csrf_token_and_the_app(daemon):
    import urllib.request
    import urllib.error

    def call(method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(daemon.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    register(daemon, "nora")
    status, headers, text = call("POST", "/console/api/session", {"appkey": APPKEY, "master_secret": SECRET})
    cookie = headers["Set-Cookie"].split(";")[0]
    csrf = json.loads(text)["csrf"]
    path = f"/console/api/apps/{APPKEY}/users/nora/sessions"
    assert call("DELETE", path, headers={"Cookie": cookie})[0] == 403
    assert call("DELETE", path)[0] == 401
    assert call("DELETE", "/console/api/apps/otherappkey000000000000/users/nora/sessions",
                headers={"Cookie": cookie, "X-CSRF-Token": csrf})[0] == 403
    status, _, text = call("DELETE", path, headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 200 and json.loads(text) == {"ended": 0}
    status, _, text = call("DELETE", f"/console/api/apps/{APPKEY}/users/nobody_here/sessions",
                           headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 404 and json.loads(text)["error"]["code"] == 899002, text


FLAKY_BOT = f"""
  - name: flaky
    appkey: {APPKEY}
    username: flaky_bot
    password: flaky-bot-secret
    plugins:
      - swift: echo
      - exec: ["false"]
        id: broken
        restart: {{ backoff: 1s, max_backoff: 1s, quarantine_after: 2 }}
"""


def test_bots_screen_shows_connection_events_plugin_states_and_failures(mynah_bin, operator_hash, tmp_path, browser,
                                                                       screenshots):
    daemon = Daemon(mynah_bin, tmp_path, operator_hash)
    daemon.config.write_text(bots_yaml(daemon.directory / "data", operator_hash).replace("console:", FLAKY_BOT.strip("\n")
                                                                                          + "\nconsole:", 1))
    daemon.start()
    try:
        register(daemon, "xena")
        console_sign_in_operator(browser, daemon, OPERATOR, OPERATOR_PASSWORD)
        browser.find_element(By.ID, "nav-bots").click()
        echo = find(browser, '#bots-table tr[data-bot="echo"]')
        assert "since" in echo.find_element(By.CSS_SELECTOR, ".bot-state").text
        assert echo.find_element(By.CSS_SELECTOR, 'li[data-plugin="echo"]').get_attribute("data-state") == "running"

        # The program that exits at once is restarted, then quarantined after 2 failures.
        def shown_again(d):
            d.find_element(By.ID, "nav-bots").click()  # the current tab shows the screen again, read afresh
            find(d, "#bots-table")

        def broken_state(d):
            shown_again(d)
            cells = d.find_elements(By.CSS_SELECTOR, '#bots-table tr[data-bot="flaky"] li[data-plugin="broken"]')
            return cells and cells[0].get_attribute("data-state")
        wait(browser, lambda d: broken_state(d) == "quarantined")
        # Events: a message to each bot; the quarantined plugin fails on it, the echo plugin answers.
        xena = Gateway(daemon, APPKEY, "xena", "xena-pass")
        try:
            xena.send_text("echo_bot", "one")
            xena.send_text("flaky_bot", "two")

            def refreshed(d):
                shown_again(d)
                rows = d.find_elements(By.CSS_SELECTOR, "#bot-failures tbody tr")
                events = d.find_elements(By.CSS_SELECTOR, '#bots-table tr[data-bot="flaky"] .events')
                return rows and events and int(events[0].text) >= 1 and rows
            rows = wait(browser, refreshed)
            assert any("broken" in r.text and "quarantined" in r.text for r in rows), [r.text for r in rows]
            echo_events = browser.find_element(By.CSS_SELECTOR, '#bots-table tr[data-bot="echo"] .events').text
            assert int(echo_events) >= 1
        finally:
            xena.close()
        screenshots(browser, "console-bots")
    finally:
        daemon.stop()


BRIDGE = f"""
bridge:
  rules:
    - name: orders
      push_appkey: {APPKEY}
      alias: equal
      robot: order_bot
      receipt:
        within: 1s
        escalate:
          - resend
"""


def push(daemon, alias, alert):
    status, body = daemon.rest("POST", "/v3/push", {"platform": "all", "audience": {"alias": [alias]},
                                                    "notification": {"alert": alert}, "options": {"time_to_live": 600}})
    assert status == 200, body
    return int(body["msg_id"])


def test_bridge_recent_pushes_receipts_deadlines_escalations_and_dashboard(mynah_bin, operator_hash, tmp_path, browser,
                                                                           screenshots):
    daemon = Daemon(mynah_bin, tmp_path, operator_hash)
    daemon.config.write_text(bots_yaml(daemon.directory / "data", operator_hash, BRIDGE))
    daemon.start()
    try:
        register(daemon, "yara", "zeke")
        received = push(daemon, "yara", "Order 1 shipped")
        unreceived = push(daemon, "zeke", "Order 2 <b>shipped</b>")
        # yara's phone reads and acknowledges its message: received.
        phone = Gateway(daemon, APPKEY, "yara", "yara-pass", device="phone")
        try:
            while True:
                frame = json.loads(phone.ws.recv())
                if frame.get("op") == "msg":
                    phone.ws.send(json.dumps({"op": "ack", "seq": frame["seq"]}))
                    break
            wait(browser, lambda d: daemon.rest("GET", f"/v3/messages?msg_ids={received}")[1][0]["bridge"]["received"] == 1)
        finally:
            phone.close()
        # zeke never reads: the deadline passes and the resend escalation runs.
        wait(browser, lambda d: daemon.rest("GET", f"/v3/messages?msg_ids={unreceived}")[1][0]["bridge"]["escalations"] >= 1)
        console_sign_in_app(browser, daemon, APPKEY, SECRET)
        stats = find(browser, "#stats")
        assert "Pushes received\n1" in stats.text and "Pushes not yet received\n1" in stats.text, stats.text
        browser.find_element(By.ID, "nav-bridge").click()
        find(browser, '#bridge-rules tr[data-rule="orders"]')
        row = find(browser, f'#recent-pushes tr[data-push="{received}"]')
        assert "yara: received" in row.text and "1 received" in row.find_element(By.CSS_SELECTOR, ".receipts").text
        row = browser.find_element(By.CSS_SELECTOR, f'#recent-pushes tr[data-push="{unreceived}"]')
        assert "Order 2 <b>shipped</b>" in row.text  # as text
        assert "zeke: delivered" in row.text and "1 not yet" in row.text
        assert "resend for zeke" in row.find_element(By.CSS_SELECTOR, ".escalations").text
        waiting = find(browser, f'#open-deliveries tr[data-push="{unreceived}"]')
        assert "zeke" in waiting.text
        assert not browser.find_elements(By.CSS_SELECTOR, f'#open-deliveries tr[data-push="{received}"]')
        screenshots(browser, "console-bridge")
    finally:
        daemon.stop()


def test_chat_shows_older_messages_of_a_conversation_beyond_the_live_session(daemon, browser):
    register(daemon, "olga", "pete")
    chat_sign_in(browser, daemon, APPKEY, "pete", "pete-pass")
    olga = Gateway(daemon, APPKEY, "olga", "olga-pass")
    try:
        olga.send_text("pete", "earlier 1")
        olga.send_text("pete", "earlier 2")
        # This session receives them (and acknowledges them).
        find(browser, '#conversations li[data-conversation="single:olga"]').find_element(By.TAG_NAME, "button").click()
        wait(browser, lambda d: message_texts(d) == ["earlier 1", "earlier 2"])
        find(browser, "#text").send_keys("my answer\n")
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages li.msg.mine:not(.pending)"))
        # A new page: nothing waits unacknowledged, yet the conversation is listed (from the history API), unread 0...
        browser.execute_script("window.mynah.close()")
        # Closed: its acknowledgements are stored before the session leaves userstat.
        wait(browser, lambda d: daemon.rest("GET", "/v1/users/pete/userstat")[1]["online"] is False)
        chat_sign_in(browser, daemon, APPKEY, "pete", "pete-pass")
        item = find(browser, '#conversations li[data-conversation="single:olga"]')
        assert not item.find_elements(By.CSS_SELECTOR, ".unread")
        # ...and opening it shows the older messages, from the history API, in order, then live ones after them.
        item.find_element(By.TAG_NAME, "button").click()
        text_in(browser, "#conversation-title", "olga")
        wait(browser, lambda d: message_texts(d) == ["earlier 1", "earlier 2", "my answer"])
        assert len(browser.find_elements(By.CSS_SELECTOR, "#messages li.msg.history")) == 3
        olga.send_text("pete", "live again")
        wait(browser, lambda d: message_texts(d) == ["earlier 1", "earlier 2", "my answer", "live again"])
        # A group's older messages, for a member.
        _, group = daemon.rest("POST", "/v1/groups", {"owner_username": "olga", "name": "Book club",
                                                      "members_username": ["pete"]}, expect=201)
        olga.send_text(group["gid"], "group before", target_type="group")
        find(browser, f'#conversations li[data-conversation="group:{group["gid"]}"] button').click()
        wait(browser, lambda d: "group before" in message_texts(d))  # received live, and acknowledged
        browser.execute_script("window.mynah.close()")
        wait(browser, lambda d: daemon.rest("GET", "/v1/users/pete/userstat")[1]["online"] is False)
        chat_sign_in(browser, daemon, APPKEY, "pete", "pete-pass")
        text_in(browser, f'#conversations li[data-conversation="group:{group["gid"]}"]', "Book club")
        open_conversation(browser, "group", group["gid"])
        wait(browser, lambda d: "group before" in message_texts(d))
        assert message_texts(browser).count("group before") == 1
        assert browser.find_elements(By.CSS_SELECTOR, "#messages li.msg.history")
    finally:
        olga.close()


def test_chat_history_is_the_signed_in_users_own(daemon):
    import urllib.request
    import urllib.error

    def call(method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(daemon.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    register(daemon, "quin", "ruth", "sven")
    _, group = daemon.rest("POST", "/v1/groups", {"owner_username": "ruth", "name": "Private", "members_username": ["sven"]},
                           expect=201)
    ruth = Gateway(daemon, APPKEY, "ruth", "ruth-pass")
    try:
        ruth.send_text("sven", "for sven only")
        ruth.send_text(group["gid"], "group secret", target_type="group")
    finally:
        ruth.close()
    status, headers, text = call("POST", "/chat/api/session", {"appkey": APPKEY, "username": "quin", "password": "quin-pass"})
    cookie = headers["Set-Cookie"].split(";")[0]
    assert call("GET", "/chat/api/history?type=single&id=ruth")[0] == 401
    status, _, text = call("GET", "/chat/api/history?type=single&id=ruth", headers={"Cookie": cookie})
    assert status == 200 and json.loads(text) == {"messages": []}
    status, _, text = call("GET", f"/chat/api/history?type=group&id={group['gid']}", headers={"Cookie": cookie})
    assert status == 400 and json.loads(text)["error"]["code"] == 899014, text
    status, _, text = call("GET", "/chat/api/history?type=chatroom&id=1", headers={"Cookie": cookie})
    assert status == 400 and "type" in json.loads(text)["error"]["message"]
    # The conversation list is quin's own too: nothing of ruth's; sven's lists ruth and the group.
    assert call("GET", "/chat/api/conversations")[0] == 401
    status, _, text = call("GET", "/chat/api/conversations", headers={"Cookie": cookie})
    assert status == 200 and json.loads(text) == {"conversations": []}
    _, headers, _ = call("POST", "/chat/api/session", {"appkey": APPKEY, "username": "sven", "password": "sven-pass"})
    status, _, text = call("GET", "/chat/api/conversations", headers={"Cookie": headers["Set-Cookie"].split(";")[0]})
    listed = [(c["type"], c["id"], c["title"]) for c in json.loads(text)["conversations"]]
    assert sorted(listed) == [("group", str(group["gid"]), "Private"), ("single", "ruth", None)], listed


def test_every_screen_fits_a_phone_and_chatrooms_work_by_keyboard(daemon, browser):
    from selenium.webdriver.common.keys import Keys
    register(daemon, "kay_owner")
    browser.set_window_size(390, 844)
    console_sign_in_operator(browser, daemon, OPERATOR, OPERATOR_PASSWORD)
    find(browser, "#stats")
    for screen in ("apps", "users", "groups", "chatrooms", "messages", "words", "bots", "bridge", "dashboard"):
        browser.find_element(By.ID, f"nav-{screen}").send_keys(Keys.ENTER)
        wait(browser, lambda d: d.current_url.endswith(f"#{screen}") and "Loading" not in d.find_element(By.ID, "screen").text
             and d.find_element(By.ID, "screen").text.strip())
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the {screen} screen is {width}px wide at phone width"
    # Keyboard only: the Chatrooms tab, then the create form, field by field, submitted with Enter.
    browser.find_element(By.ID, "nav-chatrooms").send_keys(Keys.ENTER)
    owner = find(browser, "#create-room input[name=owner_username]")
    owner.click()
    browser.switch_to.active_element.send_keys("kay_owner", Keys.TAB, "By keyboard", Keys.ENTER)
    text_in(browser, "#rooms-result", "created chatroom")
    text_in(browser, "#rooms-table", "By keyboard")


def test_user_reset_password_allow_and_delete(daemon, browser):
    register(daemon, "finn")
    daemon.rest("PUT", "/v1/users/finn/forbidden?disable=true", expect=204)
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-users").click()
    row = find(browser, '#users-table tr[data-username="finn"]')
    row.find_element(By.XPATH, ".//button[text()='Allow']").click()
    text_in(browser, "#users-result", "finn may log in")
    row.find_element(By.XPATH, ".//button[text()='Reset password']").click()
    form = find(browser, "#reset-password")
    fill(form, new_password="finn-new-pass")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#users-result", "password of finn changed")
    Gateway(daemon, APPKEY, "finn", "finn-new-pass").close()  # allowed again, with the new password
    browser.execute_script("window.confirm = () => true")
    find(browser, '#users-table tr[data-username="finn"]').find_element(By.XPATH, ".//button[text()='Delete']").click()
    text_in(browser, "#users-result", "finn deleted")
    assert not browser.find_elements(By.CSS_SELECTOR, '#users-table tr[data-username="finn"]')
    assert daemon.rest("GET", "/v1/users/finn")[0] == 404


def test_send_as_admin_to_a_group_and_a_chatroom_browse_by_group_and_retract(daemon, browser):
    register(daemon, "gwen", "hugo")
    daemon.rest("POST", "/v1/admins", {"username": "ops_admin", "password": "admin-pass"}, expect=201)
    _, group = daemon.rest("POST", "/v1/groups", {"owner_username": "gwen", "name": "Ops", "members_username": ["hugo"]},
                           expect=201)
    _, room = daemon.rest("POST", "/v1/chatroom", {"owner_username": "gwen", "name": "Hall", "members_username": ["hugo"]},
                          expect=201)
    hugo = Gateway(daemon, APPKEY, "hugo", "hugo-pass")
    try:
        console_sign_in_app(browser, daemon, APPKEY, SECRET)
        browser.find_element(By.ID, "nav-messages").click()
        send = find(browser, "#send-message")
        for kind, target, text in (("group", group["gid"], "to the group"), ("chatroom", room["chatroom_id"], "to the room")):
            fill(send, from_id="ops_admin", target_id=str(target), text=text)
            send.find_element(By.NAME, "target_type").send_keys(kind)
            send.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            text_in(browser, "#send-result", "msg_id")
            browser.execute_script("document.getElementById('send-result').textContent = ''")
        # hugo, online in the room, gets both.
        texts = []
        while len(texts) < 2:
            frame = json.loads(hugo.ws.recv())
            if frame.get("op") == "msg":
                texts.append(frame["message"]["msg_body"]["text"])
        assert sorted(texts) == ["to the group", "to the room"]
        history = browser.find_element(By.ID, "history-form")
        history.find_element(By.NAME, "kind").send_keys("group")
        fill(history, id=str(group["gid"]))
        history.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        text_in(browser, "#history-table", "to the group")
        assert "to the room" not in browser.find_element(By.ID, "history-table").text
        browser.find_element(By.CSS_SELECTOR, "#history-table tbody tr").find_element(
            By.XPATH, ".//button[text()='Retract']").click()
        text_in(browser, "#history-result", "retracted")
        history.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        text_in(browser, "#history-result", "0 of 0 messages")
    finally:
        hugo.close()


def test_sensitive_words_edit_and_remove(daemon, browser):
    daemon.rest("POST", "/v1/sensitiveword", ["oldword"], expect=201)
    console_sign_in_app(browser, daemon, APPKEY, SECRET)
    browser.find_element(By.ID, "nav-words").click()
    text_in(browser, "#words-table", "oldword")
    browser.execute_script("window.prompt = () => 'newword'")
    browser.find_element(By.XPATH, "//table[@id='words-table']//button[text()='Edit']").click()
    text_in(browser, "#words-table", "newword")
    assert "oldword" not in browser.find_element(By.ID, "words-table").text
    browser.find_element(By.XPATH, "//table[@id='words-table']//button[text()='Remove']").click()
    wait(browser, lambda d: "newword" not in d.find_element(By.ID, "words-table").text)
    assert daemon.rest("GET", "/v1/sensitiveword?start=0&count=10")[1]["total"] == 0


TABLE_BRIDGE = f"""
bridge:
  rules:
    - name: tickets
      push_appkey: {APPKEY}
      alias: table
      robot: ticket_bot
"""


def test_bridge_alias_bindings_add_and_remove(mynah_bin, operator_hash, tmp_path, browser):
    daemon = Daemon(mynah_bin, tmp_path, operator_hash)
    daemon.config.write_text(bots_yaml(daemon.directory / "data", operator_hash, TABLE_BRIDGE))
    daemon.start()
    try:
        register(daemon, "iris")
        console_sign_in_app(browser, daemon, APPKEY, SECRET)
        browser.find_element(By.ID, "nav-bridge").click()
        form = find(browser, "#binding-form")
        fill(form, alias="customer-7", username="iris")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        text_in(browser, "#bindings-table", "customer-7")
        _, body = daemon.rest("GET", "/v3/bridge/bindings/customer-7")
        assert body["username"] == "iris", body
        # A push to the alias reaches iris's account, and shows among the recent pushes.
        msg_id = push(daemon, "customer-7", "Ticket answered")
        browser.find_element(By.ID, "nav-bridge").click()
        text_in(browser, f'#recent-pushes tr[data-push="{msg_id}"]', "iris (customer-7)")
        browser.find_element(By.XPATH, "//table[@id='bindings-table']//button[text()='Remove']").click()
        wait(browser, lambda d: "customer-7" not in d.find_element(By.ID, "bindings-table").text)
        assert daemon.rest("GET", "/v3/bridge/bindings")[1]["bindings"] == []
    finally:
        daemon.stop()
