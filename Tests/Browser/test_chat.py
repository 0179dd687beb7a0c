"""The web chat at /chat and mynah.js, in a real headless Chromium against a real daemon."""
import json
import struct
import zlib

from selenium.webdriver.common.by import By

from conftest import APPKEY
from helpers import (Gateway, chat_sign_in, console_sign_in_app, find, message_texts, open_conversation, text_in, wait)


def register(daemon, *users):
    _, results = daemon.rest("POST", "/v1/users", [{"username": u, "password": f"{u}-pass", **extra} for u, extra in users],
                             expect=201)
    assert all("error" not in r for r in results), results


def admin(daemon):
    daemon.rest("POST", "/v1/admins", {"username": "ops_admin", "password": "admin-pass"}, expect=201)


def admin_sends(daemon, target, text):
    status, body = daemon.rest("POST", "/v1/messages", {
        "version": 1, "target_type": "single", "target_id": target, "from_type": "admin", "from_id": "ops_admin",
        "msg_type": "text", "msg_body": {"text": text}})
    assert status == 201, body


def test_send_to_the_echo_bot_and_see_its_reply(daemon, browser, screenshots):
    register(daemon, ("alice", {}))
    chat_sign_in(browser, daemon, APPKEY, "alice", "alice-pass")
    open_conversation(browser, "single", "echo_bot")
    box = find(browser, "#text")
    box.send_keys("Hello, echo!\n")
    wait(browser, lambda d: message_texts(d).count("Hello, echo!") == 2)
    mine, reply = browser.find_elements(By.CSS_SELECTOR, "#messages li.msg")
    assert "mine" in mine.get_attribute("class") and "theirs" in reply.get_attribute("class")
    assert "Echo" in reply.find_element(By.CSS_SELECTOR, ".from").text
    screenshots(browser, "chat-echo")


def test_offline_messages_at_sign_in_with_unread_counts_then_live(daemon, browser):
    register(daemon, ("bobby", {}))
    admin(daemon)
    admin_sends(daemon, "bobby", "while you were away 1")
    admin_sends(daemon, "bobby", "while you were away 2")
    chat_sign_in(browser, daemon, APPKEY, "bobby", "bobby-pass")
    item = find(browser, '#conversations li[data-conversation="single:ops_admin"]')
    text_in(browser, '#conversations li[data-conversation="single:ops_admin"] .unread', "2")
    item.find_element(By.TAG_NAME, "button").click()
    wait(browser, lambda d: message_texts(d) == ["while you were away 1", "while you were away 2"])
    assert not browser.find_elements(By.CSS_SELECTOR, '#conversations li[data-conversation="single:ops_admin"] .unread')
    admin_sends(daemon, "bobby", "live now")
    wait(browser, lambda d: message_texts(d)[-1:] == ["live now"])


def test_a_dropped_connection_resumes_and_missed_messages_arrive_in_order(daemon, browser):
    register(daemon, ("carl", {}))
    admin(daemon)
    chat_sign_in(browser, daemon, APPKEY, "carl", "carl-pass")
    # Offline on purpose (the page's button): what is sent meanwhile arrives, in order, after going online.
    browser.find_element(By.ID, "toggle-connection").click()
    wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "offline")
    for i in range(1, 6):
        admin_sends(daemon, "carl", f"missed {i}")
    browser.find_element(By.ID, "toggle-connection").click()
    item = find(browser, '#conversations li[data-conversation="single:ops_admin"]')
    text_in(browser, '#conversations li[data-conversation="single:ops_admin"] .unread', "5")
    item.find_element(By.TAG_NAME, "button").click()
    wait(browser, lambda d: message_texts(d) == [f"missed {i}" for i in range(1, 6)])
    # A connection dropped under the page (as by a network change): mynah.js reconnects by itself and resumes
    # after the last seq, so nothing is lost and nothing repeated.
    browser.execute_script("window.mynah.dropConnection()")
    admin_sends(daemon, "carl", "after the drop")
    wait(browser, lambda d: message_texts(d)[-1:] == ["after the drop"])
    wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "online")
    assert message_texts(browser) == [f"missed {i}" for i in range(1, 6)] + ["after the drop"]
    seqs = [int(e.get_attribute("data-seq")) for e in browser.find_elements(By.CSS_SELECTOR, "#messages li.msg")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_send_while_offline_is_delivered_once_after_reconnecting(daemon, browser):
    register(daemon, ("dora", {}), ("eddy", {}))
    chat_sign_in(browser, daemon, APPKEY, "dora", "dora-pass")
    open_conversation(browser, "single", "eddy")
    browser.find_element(By.ID, "toggle-connection").click()
    wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "offline")
    find(browser, "#text").send_keys("queued while offline\n")
    find(browser, "#messages li.msg.pending")
    browser.find_element(By.ID, "toggle-connection").click()
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#messages li.msg.pending"))
    eddy = Gateway(daemon, APPKEY, "eddy", "eddy-pass")
    frame = json.loads(eddy.ws.recv())
    assert frame["op"] == "msg" and frame["message"]["msg_body"]["text"] == "queued while offline"
    eddy.close()


def test_group_chat_with_a_user(daemon, browser):
    register(daemon, ("fred", {}), ("gwen", {}))
    status, group = daemon.rest("POST", "/v1/groups", {"owner_username": "fred", "name": "Pair",
                                                       "members_username": ["gwen"]})
    assert status == 201, group
    gid = group["gid"]
    chat_sign_in(browser, daemon, APPKEY, "fred", "fred-pass")
    # The group_created event makes the conversation appear.
    find(browser, f'#conversations li[data-conversation="group:{gid}"]').find_element(By.TAG_NAME, "button").click()
    find(browser, "#text").send_keys("hi group\n")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages li.msg:not(.pending)"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages li.msg .error")
    gwen = Gateway(daemon, APPKEY, "gwen", "gwen-pass")
    gwen.send_text(gid, "hello fred", target_type="group")
    wait(browser, lambda d: message_texts(d)[-1:] == ["hello fred"])
    gwen.close()


def tiny_png():
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(3))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_send_and_see_an_image(daemon, browser, tmp_path):
    register(daemon, ("hana", {}), ("ivan", {}))
    path = tmp_path / "red.png"
    path.write_bytes(tiny_png())
    chat_sign_in(browser, daemon, APPKEY, "hana", "hana-pass")
    open_conversation(browser, "single", "ivan")
    browser.find_element(By.ID, "image").send_keys(str(path))
    # Once stored, the message's node is redrawn: read the image of the final one.
    src = wait(browser, lambda d: d.execute_script(
        "const i = document.querySelector('#messages li.msg.mine:not(.pending) img.picture');"
        "return i && i.complete && i.naturalWidth === 4 ? i.src : null"))
    assert src.startswith(daemon.url + "/media/")
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages li.msg .error")


def test_a_hostile_nickname_is_shown_as_text_and_runs_nothing(daemon, browser):
    payload = "<img src=x onerror=alert(1)>"
    register(daemon, ("mallory", {"nickname": payload}), ("judy", {}))
    mallory = Gateway(daemon, APPKEY, "mallory", "mallory-pass")
    mallory.send_text("judy", payload)
    mallory.close()
    chat_sign_in(browser, daemon, APPKEY, "judy", "judy-pass")
    item = find(browser, '#conversations li[data-conversation="single:mallory"]')
    assert payload in item.text
    item.find_element(By.TAG_NAME, "button").click()
    text_in(browser, "#messages .from", payload)
    assert message_texts(browser) == [payload]
    assert not browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]')
    # The console's user list shows it as text too.
    console_sign_in_app(browser, daemon, APPKEY, "054d6103823a726fc12d0466")
    browser.find_element(By.ID, "nav-users").click()
    text_in(browser, '#users-table tr[data-username="mallory"] .nickname', payload)
    assert not browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]')
    # An alert would have been left open; selenium would fail every call after it. None is.
    assert browser.execute_script("return 1") == 1


def test_chat_at_phone_width(daemon, browser, screenshots):
    register(daemon, ("kate", {}))
    browser.set_window_size(390, 844)
    chat_sign_in(browser, daemon, APPKEY, "kate", "kate-pass")
    open_conversation(browser, "single", "echo_bot")
    find(browser, "#text").send_keys("small screen\n")
    wait(browser, lambda d: message_texts(d).count("small screen") == 2)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390
    screenshots(browser, "chat-phone")


def test_wrong_password_is_refused(daemon, browser):
    register(daemon, ("liam", {}))
    browser.get(daemon.url + "/chat")
    form = find(browser, "#signin")
    for name, value in (("appkey", APPKEY), ("username", "liam"), ("password", "wrong")):
        form.find_element(By.NAME, name).clear()
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(browser, "#signin-error", "899008")
