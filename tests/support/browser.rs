//! Headless Chromium for the tests: one-shot runs of the `chromium` binary (dump a page's DOM,
//! take a screenshot) for static files, and a small WebDriver client (Debian's
//! `chromium-driver`) for pages that need clicks, typing and several windows. Both are the
//! real browser; nothing is simulated.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Chromium with the flags a root, display-less test needs.
pub fn chromium(args: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args(HEADLESS)
        .args(["--enable-logging=stderr", "--v=0"])
        .args(args)
        .output()
        .expect("chromium (slurm/dev-cluster.sh up installs it)")
}

const HEADLESS: [&str; 5] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
];

/// Where a test's screenshots stay after it: `$TMPDIR/benchmon-tests/{name}`, one set per
/// run, overwritten by the next.
pub fn keep_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join("benchmon-tests").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Console messages and uncaught errors in Chromium's stderr log.
pub fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// A Chromium driven over WebDriver; the driver and the browser are killed on drop.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: std::process::Child,
}

impl Browser {
    /// Starts `chromedriver` on a free port and a headless Chromium session of `width`×`height`
    /// that keeps the browser console log.
    pub async fn start(width: u32, height: u32) -> Browser {
        use std::os::unix::process::CommandExt;
        let port = super::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group, so drop kills the browser it starts too.
            .process_group(0)
            .spawn()
            .expect("chromedriver (Debian package chromium-driver)");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
        };
        for _ in 0..100 {
            let ready = browser.http.get(format!("{base}/status")).send().await;
            if matches!(ready, Ok(r) if r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let size = format!("--window-size={width},{height}");
        let mut args: Vec<&str> = HEADLESS.to_vec();
        args.push(&size);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created: Value = browser
            .http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"));
        browser.session = format!("{base}/session/{id}");
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        let v = self.call(reqwest::Method::GET, "/url", None).await;
        v.as_str().unwrap().to_owned()
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        let body = json!({"script": script, "args": args});
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// Polls `script` until it returns something truthy; panics with `what` after `timeout`.
    pub async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.eval(script, vec![]).await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                let body = self.eval("return document.body.innerText", vec![]).await;
                panic!("{what}: not within {timeout:?}; the page says: {body}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let id = v.as_object().and_then(|o| o.values().next()).unwrap();
        id.as_str().unwrap().to_owned()
    }

    /// A real click (a user gesture) on the element `css` selects.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        let body = json!({ "text": text });
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(body),
        )
        .await;
    }

    pub async fn window_handles(&self) -> Vec<String> {
        let v = self
            .call(reqwest::Method::GET, "/window/handles", None)
            .await;
        serde_json::from_value(v).unwrap()
    }

    pub async fn window_handle(&self) -> String {
        let v = self.call(reqwest::Method::GET, "/window", None).await;
        v.as_str().unwrap().to_owned()
    }

    pub async fn switch_to(&self, handle: &str) {
        let body = json!({ "handle": handle });
        self.call(reqwest::Method::POST, "/window", Some(body))
            .await;
    }

    /// A PNG of the current window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64_decode(v.as_str().unwrap())
    }

    /// The browser console's entries since the last call (`level`, `message`, `source`).
    pub async fn console(&self) -> Vec<Value> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Ends the WebDriver session (the browser quits and the driver reaps it), then the
    /// driver; drop kills whatever is left.
    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let pid = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..50 {
            if matches!(self.driver.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

/// Standard base64 (WebDriver's screenshots).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (u32::from(*d) << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
