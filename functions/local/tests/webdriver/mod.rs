//! A small W3C WebDriver client over reqwest, for the console's browser test: a
//! chromedriver process and one headless Chromium session, driven by the keyboard.
//!
//! The test needs a dozen commands (navigate, run a script, send keys, screenshot, the
//! browser log); the protocol is JSON over HTTP, and reqwest is already one of this
//! package's dev-dependencies, so this costs no build time (fantoccini would bring
//! about twenty crates, a second ICU generation among them).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The keys the walk-through presses (WebDriver's code points for them).
pub const TAB: &str = "\u{E004}";
/// Enter.
pub const ENTER: &str = "\u{E007}";
/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session and the chromedriver serving it; both end on drop.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: Child,
    _profile: tempfile::TempDir,
}

/// Where Chromium and chromedriver are: `STUDIO_CHROMIUM` and `STUDIO_CHROMEDRIVER` (when
/// set, the file they name or none), else Debian's `chromium` and `chromedriver` on the
/// PATH.
pub fn find_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str, name: &str| match std::env::var_os(var) {
        Some(path) => Some(PathBuf::from(path)).filter(|path| path.is_file()),
        None => std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file()),
    };
    Some((
        find("STUDIO_CHROMIUM", "chromium")?,
        find("STUDIO_CHROMEDRIVER", "chromedriver")?,
    ))
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session
    /// (`--no-sandbox`: CI runs as root) that records the page's console.
    pub async fn start(chromium: &Path, chromedriver: &Path, width: u32, height: u32) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(answer) = ready {
                let status: Value = answer.json().await.unwrap_or(Value::Null);
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver answers in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-extensions".to_owned(),
            "--no-first-run".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("POST /session")
            .json()
            .await
            .expect("session JSON");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a session: {answer}"));
        Self {
            http,
            session: format!("{base}/session/{id}"),
            _driver: driver,
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("WebDriver JSON");
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs a function body in the page (`arguments[0]`... are `args`) and returns its
    /// value. WebDriver's scripts run outside the page's CSP.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Presses and releases each key of `text` in turn, as typing does.
    pub async fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.command(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
    }

    /// Waits until `condition` (a script's body returning a boolean) holds.
    pub async fn wait_for(&self, what: &str, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.eval(condition, json!([])).await == true {
                return;
            }
            if Instant::now() > deadline {
                let text = self
                    .eval("return document.body.innerText;", json!([]))
                    .await;
                panic!(
                    "waited 30 s for {what}; the page shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes a PNG of the page's body (the window, cropped to the content) to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let body = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": "body"})),
            )
            .await;
        let id = body[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("the body element: {body}"));
        let data = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{id}/screenshot"),
                None,
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("PNG");
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// The page's console entries since the last call (chromedriver's log endpoint).
    pub async fn console_entries(&self) -> Vec<Value> {
        let entries = self
            .command(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await;
        entries.as_array().cloned().unwrap_or_default()
    }

    /// Ends the session (Chromium exits; chromedriver ends on drop).
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
