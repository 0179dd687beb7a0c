"""Page helpers shared by the browser tests."""
import json

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 60


def wait(driver, condition, timeout=TIMEOUT):
    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=[StaleElementReferenceException]).until(condition)


def find(driver, css, timeout=TIMEOUT):
    return wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)


def text_in(driver, css, text, timeout=TIMEOUT):
    return wait(driver, EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), timeout)


def fill(form, **fields):
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)


def console_sign_in_app(driver, daemon, appkey, secret):
    driver.get(daemon.url + "/console")
    form = find(driver, "#signin-app")
    fill(form, appkey=appkey, master_secret=secret)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    find(driver, "#who")


def console_sign_in_operator(driver, daemon, name, password):
    driver.get(daemon.url + "/console")
    form = find(driver, "#signin-operator")
    fill(form, operator=name, password=password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    find(driver, "#who")


def chat_sign_in(driver, daemon, appkey, username, password):
    driver.get(daemon.url + "/chat")
    form = find(driver, "#signin")
    fill(form, appkey=appkey, username=username, password=password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "online")


def open_conversation(driver, kind, target):
    form = find(driver, "#new-chat")
    fill(form, id=str(target))
    form.find_element(By.NAME, "type").send_keys("group" if kind == "group" else "user")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text_in(driver, "#conversation-title", str(target))


def message_texts(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#messages li.msg .body')].map((e) => e.textContent)")


class Gateway:
    """A gateway client of the test itself (websocket-client, which selenium installs)."""

    def __init__(self, daemon, appkey, username, password, device="test"):
        import websocket
        self.ws = websocket.create_connection(daemon.url.replace("http", "ws") + "/gateway", timeout=60)
        self.ws.send(json.dumps({"op": "login", "appkey": appkey, "username": username, "password": password,
                                 "device": device}))
        frame = json.loads(self.ws.recv())
        assert frame["op"] == "login_ok", frame
        self.n = 0

    def send_text(self, target, text, target_type="single"):
        self.n += 1
        sid = f"s{self.n}"
        self.ws.send(json.dumps({"op": "send", "id": sid, "request_id": f"r-{sid}", "target_type": target_type,
                                 "target_id": str(target), "msg_type": "text", "msg_body": {"text": text}}))
        while True:
            frame = json.loads(self.ws.recv())
            if frame.get("id") == sid:
                assert frame["op"] == "sent", frame
                return frame

    def close(self):
        self.ws.close()
