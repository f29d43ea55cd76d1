//! The dashboard in a real browser: headless Chromium, driven by `chromedriver` through the W3C
//! WebDriver HTTP API, signs in through the form, searches an opt-out and reads the record.
//!
//! The browser is Debian's `chromium` with its `chromium-driver`; the test fails, never skips,
//! when either is missing. The screenshot is kept in `target/ui-dashboard.png` for review.

use base64::Engine as _;
use serde_json::{json, Value};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::delivery_receiver::{DeliveryReceiver, Reply};
use crate::eventually::eventually;
use crate::helpers::spawn_app_with_engine;
use crate::operator::{email, exposure, opt_out};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where the screenshot is kept: the workspace's `target/`.
const SCREENSHOT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target");
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Longest a WebDriver command may take: starting a browser is the slowest, a few seconds.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `chromedriver`, killed when dropped.
#[derive(Debug)]
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    /// Starts `chromedriver` on a free loopback port and waits (bounded) until it is ready.
    async fn start(client: &reqwest::Client) -> Self {
        for (binary, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install Debian's `chromium` and `chromium-driver` \
                 (apt-get install -y chromium chromium-driver; `{package}` provides it)"
            );
        }
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        eventually("chromedriver to be ready", || async {
            let status = client
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .map_err(|error| error.to_string())?;
            let body: Value = status.json().await.map_err(|error| error.to_string())?;
            if body["value"]["ready"] == json!(true) {
                Ok(())
            } else {
                Err(body.to_string())
            }
        })
        .await;
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
#[derive(Debug)]
struct Browser {
    client: reqwest::Client,
    session: String,
}

impl Browser {
    /// Opens headless Chromium.
    async fn open(driver: &ChromeDriver, client: reqwest::Client) -> Self {
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,2000",
                    ],
                },
            }},
        });
        let answer = command(
            &client,
            reqwest::Method::POST,
            &format!("{}/session", driver.url),
            Some(capabilities),
        )
        .await;
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {answer}"))
            .to_owned();
        Self {
            client,
            session: format!("{}/session/{session}", driver.url),
        }
    }

    /// A command of this session; its answer's `value`.
    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        command(&self.client, reqwest::Method::POST, &url, Some(body)).await["value"].take()
    }

    /// A query of this session; its answer's `value`.
    async fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.session);
        command(&self.client, reqwest::Method::GET, &url, None).await["value"].take()
    }

    async fn navigate(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The element matching a CSS selector, which must exist.
    async fn find(&self, selector: &str) -> String {
        self.try_find(selector)
            .await
            .unwrap_or_else(|| panic!("no element matches {selector}"))
    }

    async fn try_find(&self, selector: &str) -> Option<String> {
        let answer = self
            .client
            .post(format!("{}/element", self.session))
            .json(&json!({ "using": "css selector", "value": selector }))
            .send()
            .await
            .expect("chromedriver answers");
        let ok = answer.status().is_success();
        let body: Value = answer.json().await.expect("JSON");
        ok.then(|| body["value"][ELEMENT_KEY].as_str().map(str::to_owned))
            .flatten()
    }

    /// Waits (bounded) for an element to appear, e.g. after a form's navigation.
    async fn wait_for(&self, selector: &str) -> String {
        eventually(&format!("an element matching {selector}"), || async {
            self.try_find(selector)
                .await
                .ok_or_else(|| "not there yet".to_owned())
        })
        .await
    }

    async fn type_into(&self, element: &str, text: &str) {
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, element: &str) {
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    async fn text(&self, element: &str) -> String {
        let answer = self.get(&format!("/element/{element}/text")).await;
        answer.as_str().expect("text").to_owned()
    }

    async fn title(&self) -> String {
        self.get("/title").await.as_str().expect("title").to_owned()
    }

    /// A PNG of the viewport.
    async fn screenshot(&self) -> Vec<u8> {
        let answer = self.get("/screenshot").await;
        let encoded = answer.as_str().expect("base64 PNG");
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("valid base64")
    }

    async fn close(self) {
        command(&self.client, reqwest::Method::DELETE, &self.session, None).await;
    }
}

/// Sends a WebDriver command and returns its whole answer (`{"value":…}`); a WebDriver error
/// fails the test.
async fn command(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method.clone(), url).timeout(COMMAND_TIMEOUT);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("{method} {url}: {error}"));
    let status = answer.status();
    let body: Value = answer.json().await.expect("WebDriver answers JSON");
    assert!(
        status.is_success(),
        "{method} {url} answered {status}: {body}"
    );
    body
}

#[tokio::test]
async fn an_operator_signs_in_and_finds_a_delivered_opt_out_in_chromium() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/told").await;
    let failing = app.subscriber(&receiver, "/down").await;
    receiver.reply("/down", Reply::AlwaysFail);
    app.sample_queue().await;
    app.expose(&[
        exposure(
            &subscriber.account.id,
            "c-browser",
            &[email("jane@example.com")],
        ),
        exposure(
            &failing.account.id,
            "c-browser",
            &[email("jane@example.com")],
        ),
    ])
    .await;
    let opt_out_id = app.opt_out_id(&opt_out("c-browser", "Jane Doe")).await;
    app.wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;
    // Four failed attempts disable the failing subscription and hold its notice.
    app.wait_for_recipient(&opt_out_id, &failing.account.id, "waiting")
        .await;
    app.sample_queue().await;

    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let driver = ChromeDriver::start(&client).await;
    let browser = Browser::open(&driver, client).await;

    browser.navigate(&app.url("/ui")).await;
    let token = browser.find("#token").await;
    browser.type_into(&token, &app.admin_token).await;
    browser.click(&browser.find("#sign-in").await).await;
    let search = browser.wait_for("#search").await;
    browser.type_into(&search, &opt_out_id).await;
    browser.click(&browser.find("#search-button").await).await;
    let record = browser.wait_for("#compliance-record").await;
    let shown = browser.text(&record).await;
    let title = browser.title().await;
    let summary = browser.text(&browser.find("#summary").await).await;
    let subscriptions = browser.text(&browser.find("#subscriptions").await).await;
    let failures = browser.text(&browser.find("#failures").await).await;
    let chart = browser.try_find("#queue-chart").await;
    let png = browser.screenshot().await;
    browser.close().await;
    drop(driver);

    let path = save_screenshot(&png);
    assert_eq!(title, "Dashboard · optout-relay");
    assert!(shown.contains(&opt_out_id), "{shown}");
    assert!(shown.contains("c-browser"), "{shown}");
    assert!(shown.contains(&subscriber.account.id), "{shown}");
    assert!(shown.contains("delivered"), "{shown}");
    assert!(shown.contains(&failing.account.id), "{shown}");
    assert!(shown.contains("waiting"), "{shown}");
    assert!(summary.contains("1 active"), "{summary}");
    assert!(summary.contains("1 disabled"), "{summary}");
    assert!(
        subscriptions.contains("Max retries exceeded"),
        "{subscriptions}"
    );
    assert!(subscriptions.contains("disabled"), "{subscriptions}");
    assert!(failures.contains("permanent_failure"), "{failures}");
    assert!(failures.contains(&failing.subscription_id), "{failures}");
    assert!(chart.is_some(), "the chart is drawn from the samples taken");
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        path.display()
    );
    app.shutdown().await;
}

/// Writes the screenshot to `target/ui-dashboard.png`; its path.
fn save_screenshot(png: &[u8]) -> PathBuf {
    std::fs::create_dir_all(SCREENSHOT_DIR).expect("create target/");
    let path = Path::new(SCREENSHOT_DIR).join("ui-dashboard.png");
    std::fs::write(&path, png).expect("write the screenshot");
    path
}
