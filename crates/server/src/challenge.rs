//! The URL challenge (spec A10): the owner of a webhook URL proves it by echoing a random value.

use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use std::time::Duration;

use crate::target_guard::VettedTarget;
use optout_core::WebhookUrl;

/// Random bytes in a challenge: 24 bytes give 32 url-safe characters (the spec asks for >= 16).
const CHALLENGE_BYTES: usize = 24;
/// Largest challenge response read; an echo is tiny.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Echo {
    challenge: String,
}

/// Sends `GET <url>?challenge=<random>` to the vetted address and checks the echo.
pub(crate) async fn run_challenge(
    url: &WebhookUrl,
    target: &VettedTarget,
    timeout: Duration,
    user_agent: &str,
) -> Result<(), String> {
    let value = random_challenge();
    let mut challenge_url = url.as_url().clone();
    challenge_url
        .query_pairs_mut()
        .append_pair("challenge", &value);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would dial the target itself, bypassing the vetted address.
        .no_proxy()
        .timeout(timeout)
        .user_agent(user_agent)
        .resolve(&target.host, target.address)
        .build()
        .map_err(|_| "challenge client could not be built".to_owned())?;
    let timeout_ms = timeout.as_millis();
    let response = client.get(challenge_url).send().await.map_err(|error| {
        if error.is_timeout() {
            format!("challenge timed out after {timeout_ms} ms")
        } else {
            "challenge request failed: could not connect".to_owned()
        }
    })?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "challenge answered HTTP {}, expected 200",
            status.as_u16()
        ));
    }
    let body = read_capped(response)
        .await
        .map_err(|_| format!("challenge response could not be read within {timeout_ms} ms"))?;
    match serde_json::from_slice::<Echo>(&body) {
        Ok(echo) if echo.challenge == value => Ok(()),
        Ok(_) => Err("challenge response echoed a different value".to_owned()),
        Err(_) => Err("challenge response is not {\"challenge\": \"<value>\"}".to_owned()),
    }
}

fn random_challenge() -> String {
    let mut bytes = [0u8; CHALLENGE_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(body)
}
