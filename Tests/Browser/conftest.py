"""Fixtures of the browser suite: a real `mynah` daemon (the built binary, on an OS-chosen port, with a temp data
dir and a generated bots.yaml) and a real headless Chromium driven by selenium through the system chromedriver.

Run:  python3 -m pytest Tests/Browser        (after `swift build`; MYNAH_BIN overrides .build/debug/mynah)
Without chromium/chromedriver the suite is skipped, unless MYNAH_BROWSER_REQUIRED=1 (as .ci/run sets): then it fails.
MYNAH_SCREENSHOTS=docs/images writes the screenshots docs/console.md shows; by default they go to a temp dir.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPKEY = "4f7aef34fb361292c566a1cd"
SECRET = "054d6103823a726fc12d0466"
OPERATOR = "ops"
OPERATOR_PASSWORD = "operator-pass"
REQUIRED = os.environ.get("MYNAH_BROWSER_REQUIRED") == "1"


def _missing(reason):
    if REQUIRED:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mynah_bin():
    path = Path(os.environ.get("MYNAH_BIN", ROOT / ".build" / "debug" / "mynah"))
    if not path.exists():
        pytest.fail(f"{path} does not exist; run `swift build` first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def operator_hash(mynah_bin):
    out = subprocess.run([str(mynah_bin), "hash-password", "--cost", "4"], input=OPERATOR_PASSWORD + "\n",
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def bots_yaml(data_dir, operator_hash, extra=""):
    return f"""
listen:
  host: 127.0.0.1
  port: 0
data_dir: {data_dir}
log_level: info
apps:
  - appkey: {APPKEY}
    master_secret: {SECRET}
    name: Demo
bots:
  - name: echo
    appkey: {APPKEY}
    username: echo_bot
    password: echo-bot-secret
    nickname: Echo
    plugins:
      - swift: commands
      - swift: echo
console:
  operators:
    - name: {OPERATOR}
      password_hash: "{operator_hash}"
{extra}"""


class Daemon:
    """A `mynah run` child process; `port` once it logs `listening`."""

    def __init__(self, binary, directory, operator_hash):
        self.binary = binary
        self.directory = Path(directory)
        self.config = self.directory / "bots.yaml"
        self.operator_hash = operator_hash
        self.config.write_text(bots_yaml(self.directory / "data", operator_hash))
        self.process = None
        self.port = None
        self.log = []

    def start(self):
        self.process = subprocess.Popen(
            [str(self.binary), "run", "--config", str(self.config), "--password-cost", "4", "--exit-with-parent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.directory)
        ready = threading.Event()

        def read():
            for line in self.process.stderr:
                self.log.append(line)
                if self.port is None and "listening" in line:
                    m = re.search(r"address=127\.0\.0\.1:(\d+)", line)
                    if m:
                        self.port = int(m.group(1))
                        ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(120)
        if self.port is None:
            raise RuntimeError("mynah did not start:\n" + "".join(self.log))
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def rest(self, method, path, body=None, appkey=APPKEY, secret=SECRET, expect=None):
        """A REST call with Basic auth; returns (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{appkey}:{secret}".encode()).decode())
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        parsed = json.loads(text) if text else None
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {text}"
        return status, parsed


@pytest.fixture
def daemon(mynah_bin, operator_hash, tmp_path):
    d = Daemon(mynah_bin, tmp_path, operator_hash).start()
    yield d
    d.stop()


def _chromium_paths():
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.fixture
def browser(request):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install selenium pytest)")
    chromium, chromedriver = _chromium_paths()
    if not chromium or not chromedriver:
        _missing("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.implicitly_wait(0)
    yield driver
    try:
        errors = javascript_errors(driver)
    finally:
        driver.quit()
    assert not errors, f"the page logged JavaScript errors: {errors}"


def javascript_errors(driver):
    """SEVERE entries of the browser's console, except failed requests the tests make on purpose (a 401 answer is
    logged by Chromium as a network entry): script errors, CSP violations and console.error calls all count."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]


@pytest.fixture(scope="session")
def screenshots():
    directory = Path(os.environ.get("MYNAH_SCREENSHOTS") or tempfile.mkdtemp(prefix="mynah-screens-"))
    if not directory.is_absolute():
        directory = ROOT / directory
    directory.mkdir(parents=True, exist_ok=True)

    def take(driver, name):
        driver.save_screenshot(str(directory / f"{name}.png"))

    return take
