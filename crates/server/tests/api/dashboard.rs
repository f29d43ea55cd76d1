//! The operator dashboard at `/ui`: signing in, what it shows, escaping and its headers.

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::delivery_receiver::DeliveryReceiver;
use crate::helpers::{spawn_app, spawn_app_with_engine, TestApp};
use crate::operator::{email, exposure, opt_out};

/// The session cookie's name.
const COOKIE: &str = "optout_ui_session";

/// A rendered page: its status, headers and HTML.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

async fn page(response: Response) -> Page {
    Page {
        status: response.status(),
        headers: response.headers().clone(),
        html: response.text().await.expect("body"),
    }
}

impl Page {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("visible ASCII").to_owned())
            .collect()
    }

    fn is_sign_in_form(&self) -> bool {
        self.html
            .contains(r#"<form method="post" action="/ui/login" id="login">"#)
            && self.html.contains(r#"type="password""#)
    }

    fn is_dashboard(&self) -> bool {
        self.html.contains(r#"id="summary""#) && self.html.contains(r#"id="subscriptions""#)
    }
}

impl TestApp {
    /// `POST /ui/login` with a form carrying `token`.
    async fn sign_in(&self, token: &str) -> Page {
        let body = format!(
            "token={}",
            url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        );
        let response = self
            .client
            .post(self.url("/ui/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request");
        page(response).await
    }

    /// Signs in with the admin token; the `name=value` of the session cookie.
    async fn session(&self) -> String {
        let signed_in = self.sign_in(&self.admin_token).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
        let set_cookie = signed_in.set_cookies().pop().expect("a session cookie");
        set_cookie.split(';').next().expect("name=value").to_owned()
    }

    /// `GET path` with a session cookie.
    async fn ui_with_cookie(&self, path: &str, cookie: &str) -> Page {
        let response = self
            .client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        page(response).await
    }

    /// `GET path` with the admin bearer token.
    async fn ui(&self, path: &str) -> Page {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("request");
        page(response).await
    }

    /// `GET path` with no credentials.
    async fn ui_anonymous(&self, path: &str) -> Page {
        page(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("request"),
        )
        .await
    }
}

#[tokio::test]
async fn the_dashboard_without_a_session_shows_the_sign_in_form_and_no_data() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;

    let shown = app.ui_anonymous("/ui").await;

    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.is_sign_in_form(), "{}", shown.html);
    assert!(!shown.is_dashboard(), "{}", shown.html);
    assert!(!shown.html.contains(&account.id), "{}", shown.html);
    assert!(!shown.html.contains(created["id"].as_str().expect("id")));
    assert!(!shown.html.contains(&app.receiver.url()));
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_401_and_sets_no_cookie() {
    let app = spawn_app().await;

    let refused = app.sign_in("not-the-admin-token-at-all").await;

    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.set_cookies().is_empty(), "{:?}", refused.headers);
    assert!(refused.is_sign_in_form(), "{}", refused.html);
    assert!(
        refused.html.contains("That is not the admin token."),
        "{}",
        refused.html
    );
    let empty = app.sign_in("").await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
    assert!(empty.set_cookies().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn the_right_token_sets_a_session_cookie_that_opens_the_dashboard() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;

    let signed_in = app.sign_in(&app.admin_token).await;

    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers["location"], "/ui");
    let cookies = signed_in.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with(&format!("{COOKIE}=")), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=43200"] {
        assert!(
            cookie.contains(&format!("; {attribute}")),
            "{attribute} missing: {cookie}"
        );
    }
    assert!(
        !cookie.contains(&app.admin_token),
        "the cookie carries the token"
    );

    let pair = cookie.split(';').next().expect("name=value");
    let shown = app.ui_with_cookie("/ui", pair).await;

    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.is_dashboard(), "{}", shown.html);
    assert!(!shown.is_sign_in_form());
    assert!(shown.html.contains(&account.id), "{}", shown.html);
    assert!(shown.html.contains(created["id"].as_str().expect("id")));
    assert!(shown.html.contains(&app.receiver.url()), "{}", shown.html);
    assert!(shown
        .html
        .contains(r#"<span class="badge good">active</span>"#));
    assert!(
        shown.html.contains(r#"<div class="value">1 active</div>"#),
        "{}",
        shown.html
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_altered_session_cookie_shows_the_sign_in_form_and_clears_it() {
    let app = spawn_app().await;
    let pair = app.session().await;
    let (name_and_expiry, signature) = pair.split_once('.').expect("expiry.signature");
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let altered = format!("{name_and_expiry}.{flipped}{}", &signature[1..]);
    let later_expiry = {
        let (name, expiry) = name_and_expiry.split_once('=').expect("name=expiry");
        let expiry: i64 = expiry.parse().expect("seconds");
        format!("{name}={}.{signature}", expiry + 3_600)
    };

    for cookie in [altered, later_expiry] {
        let shown = app.ui_with_cookie("/ui", &cookie).await;

        assert_eq!(shown.status, StatusCode::OK);
        assert!(shown.is_sign_in_form(), "{cookie}: {}", shown.html);
        assert!(!shown.is_dashboard(), "{cookie}");
        assert!(shown.html.contains("sign in again"), "{}", shown.html);
        let cleared = shown.set_cookies();
        assert!(
            cleared
                .iter()
                .any(|value| value.starts_with(&format!("{COOKIE}=;"))
                    && value.contains("Max-Age=0")),
            "{cleared:?}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn signing_out_clears_the_session_cookie() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/ui/logout"))
        .send()
        .await
        .expect("request");
    let signed_out = page(response).await;

    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.headers["location"], "/ui");
    assert_eq!(
        signed_out.set_cookies(),
        vec![format!(
            "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0"
        )]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_sign_in_posted_from_another_site_is_refused() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(format!("token={}", app.admin_token))
        .send()
        .await
        .expect("request");
    let refused = page(response).await;

    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.set_cookies().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn the_admin_bearer_token_opens_the_dashboard_and_a_wrong_one_gets_401() {
    let app = spawn_app().await;

    let shown = app.ui("/ui").await;
    let response = app
        .client
        .get(app.url("/ui"))
        .bearer_auth("not-the-admin-token-at-all")
        .send()
        .await
        .expect("request");
    let refused = page(response).await;

    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.is_dashboard(), "{}", shown.html);
    assert!(shown.html.contains("No subscriptions yet."));
    assert!(shown.html.contains("No failed attempts."));
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.is_sign_in_form());
    assert!(!refused.is_dashboard());
    app.shutdown().await;
}

#[tokio::test]
async fn searching_an_opt_out_shows_each_recipient_and_its_status() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/told").await;
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-dash",
        &[email("a@example.com")],
    )])
    .await;
    let mut item = opt_out("c-dash", "Jane Doe");
    item["optedOutAt"] = json!("2026-04-22T14:32:11.412Z");
    let opt_out_id = app.opt_out_id(&item).await;
    let delivered = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;

    let shown = app.ui(&format!("/ui?optOut={opt_out_id}")).await;

    assert_eq!(shown.status, StatusCode::OK);
    let record = section(&shown.html, r#"<div id="compliance-record">"#);
    assert!(record.contains(&opt_out_id), "{record}");
    assert!(record.contains(">c-dash<"), "{record}");
    assert!(record.contains("2026-04-22 14:32:11 UTC"), "{record}");
    let row = format!(
        r#"<tr><td class="mono">{}</td><td class="mono">{}</td><td><span class="badge good">delivered</span></td><td>1</td><td>200</td>"#,
        subscriber.account.id,
        delivered["noticeId"].as_str().expect("notice id"),
    );
    assert!(record.contains(&row), "{row} not in {record}");
    assert!(shown.html.contains(&format!(r#"value="{opt_out_id}""#)));
    assert!(
        shown
            .html
            .contains(r#"<div class="value">1</div><div class="detail">acknowledged"#),
        "{}",
        shown.html
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_or_malformed_opt_out_id_gets_a_clear_message() {
    let app = spawn_app().await;

    let unknown = app.ui("/ui?optOut=0123456789abcdef01234567").await;
    let malformed = app.ui("/ui?optOut=not-an-id").await;

    assert_eq!(unknown.status, StatusCode::OK);
    assert!(
        unknown
            .html
            .contains("No opt-out with id 0123456789abcdef01234567."),
        "{}",
        unknown.html
    );
    assert!(!unknown.html.contains(r#"id="compliance-record""#));
    assert_eq!(malformed.status, StatusCode::OK);
    assert!(
        malformed
            .html
            .contains("“not-an-id” is not an opt-out id: ids are 24 hexadecimal characters."),
        "{}",
        malformed.html
    );
    app.shutdown().await;
}

#[tokio::test]
async fn search_text_and_subscription_urls_are_escaped() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let url = format!("{}/hook?tag=a&next=b", app.receiver.url());
    app.subscribe(&account.api_key, &url).await;

    let hostile = "<script>alert(1)</script>\"'";
    let search: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
    let shown = app.ui(&format!("/ui?optOut={search}")).await;

    assert_eq!(shown.status, StatusCode::OK);
    assert!(!shown.html.contains("<script"), "{}", shown.html);
    assert!(
        shown
            .html
            .contains("“&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;” is not an opt-out id"),
        "{}",
        shown.html
    );
    assert!(shown
        .html
        .contains(r#"value="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;""#));
    assert!(
        shown.html.contains("/hook?tag=a&amp;next=b"),
        "{}",
        shown.html
    );
    assert!(!shown.html.contains("tag=a&next"), "{}", shown.html);
    app.shutdown().await;
}

#[tokio::test]
async fn every_dashboard_response_carries_the_security_headers() {
    let app = spawn_app().await;

    let responses = [
        ("sign-in form", app.ui_anonymous("/ui").await),
        ("dashboard", app.ui("/ui").await),
        ("stylesheet", app.ui_anonymous("/ui/style.css").await),
        ("refused sign-in", app.sign_in("wrong-token-for-sure").await),
        ("sign-in", app.sign_in(&app.admin_token).await),
    ];

    for (what, shown) in responses {
        let header = |name: &str| {
            shown
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_else(|| panic!("{what} has no {name}"))
                .to_owned()
        };
        assert_eq!(
            header("content-security-policy"),
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "{what}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(header("cache-control"), "no-store", "{what}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_page_loads_nothing_from_elsewhere_and_runs_no_script() {
    let app = spawn_app().await;
    app.subscribed_account().await;

    let shown = app.ui("/ui").await;
    let stylesheet = app.ui_anonymous("/ui/style.css").await;

    assert!(shown
        .html
        .contains(r#"<link rel="stylesheet" href="/ui/style.css">"#));
    for forbidden in [
        "<script", " style=", "http://", "https://", "//cdn", "onload=", "onclick=",
    ] {
        let outside_tables = shown.html.replace(&app.receiver.url(), "");
        assert!(
            !outside_tables.contains(forbidden),
            "{forbidden} in {}",
            shown.html
        );
    }
    assert_eq!(stylesheet.status, StatusCode::OK);
    assert_eq!(
        stylesheet.headers["content-type"],
        "text/css; charset=utf-8"
    );
    assert!(stylesheet.html.contains(".card"));
    assert!(
        !stylesheet.html.contains("url("),
        "the stylesheet loads nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_chart_appears_once_the_queue_has_two_samples() {
    let app = spawn_app().await;
    // The app samples once when it starts and then every 10 s: at most one sample so far.
    let before = app.ui("/ui").await;
    app.sample_queue().await;
    app.sample_queue().await;

    let after = app.ui("/ui").await;

    assert!(
        before.html.contains(r#"id="chart-collecting""#),
        "{}",
        before.html
    );
    assert!(!before.html.contains("<svg"));
    assert!(
        after.html.contains(r#"<svg id="queue-chart""#),
        "{}",
        after.html
    );
    assert!(after.html.contains(r#"<polyline class="series depth""#));
    assert!(after.html.contains("Delivery rate (notices/s)"));
    assert!(!after.html.contains(r#"id="chart-collecting""#));
    app.shutdown().await;
}

#[tokio::test]
async fn dashboard_requests_are_counted_under_their_route_template() {
    let app = spawn_app().await;
    app.ui("/ui?optOut=0123456789abcdef01234567").await;

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");

    assert!(
        metrics.contains(
            r#"optout_relay_http_requests_total{method="GET",route="/ui",status="200"} 1"#
        ),
        "{metrics}"
    );
    app.shutdown().await;
}

/// The part of `html` from `start` to the end of the page.
fn section<'a>(html: &'a str, start: &str) -> &'a str {
    let index = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {html}"));
    &html[index..]
}
