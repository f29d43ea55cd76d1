//! The dashboard's two lists: every subscription with its state, and the recent failures.

use optout_core::{AuditStatus, Subscription};
use optout_store::AccountAuditEntry;
use std::fmt::Write as _;

use super::html::{esc, instant};

/// Most subscriptions listed; disabled ones come first, so they are never cut off by active ones.
pub(crate) const SUBSCRIPTIONS_SHOWN: u32 = 200;
/// Most failed attempts listed.
pub(crate) const FAILURES_SHOWN: u32 = 50;

/// The subscriptions table.
pub(crate) fn subscriptions(subscriptions: &[Subscription]) -> String {
    let mut out =
        String::from(r#"<section class="panel" id="subscriptions"><h2>Subscriptions</h2>"#);
    if subscriptions.is_empty() {
        out.push_str(r#"<p class="empty">No subscriptions yet.</p></section>"#);
        return out;
    }
    if subscriptions.len() >= SUBSCRIPTIONS_SHOWN as usize {
        let _ = write!(
            out,
            r#"<p class="hint">The first {SUBSCRIPTIONS_SHOWN}: disabled ones first, then the newest.</p>"#
        );
    }
    out.push_str(
        r#"<div class="scroll"><table><thead><tr><th>Account</th><th>Subscription</th><th>URL</th><th>State</th><th>Reason</th><th>Disabled since</th></tr></thead><tbody>"#,
    );
    for subscription in subscriptions {
        let (state, badge) = if subscription.is_active {
            ("active", "good")
        } else {
            ("disabled", "bad")
        };
        let _ = write!(
            out,
            r#"<tr class="{state}"><td class="mono">{}</td><td class="mono">{}</td><td class="url">{}</td><td><span class="badge {badge}">{state}</span></td><td>{}</td><td class="nowrap">{}</td></tr>"#,
            esc(subscription.account_id.as_str()),
            esc(&subscription.id.to_string()),
            esc(subscription.url.as_str()),
            esc(subscription.block_reason.as_deref().unwrap_or("—")),
            esc(&subscription
                .blocked_at
                .map_or_else(|| "—".to_owned(), instant)),
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// The recent failures table.
pub(crate) fn failures(failures: &[AccountAuditEntry]) -> String {
    let mut out = format!(
        r#"<section class="panel" id="failures"><h2>Recent failures</h2><p class="hint">The last {FAILURES_SHOWN} failed attempts of every account, newest first.</p>"#
    );
    if failures.is_empty() {
        out.push_str(r#"<p class="empty">No failed attempts.</p></section>"#);
        return out;
    }
    out.push_str(
        r#"<div class="scroll"><table><thead><tr><th>Time</th><th>Account</th><th>Subscription</th><th>Notice</th><th>Outcome</th><th>Status code</th><th>Error</th></tr></thead><tbody>"#,
    );
    for failure in failures {
        let entry = &failure.entry;
        let outcome = match entry.status {
            AuditStatus::PermanentFailure => "bad",
            AuditStatus::Failed | AuditStatus::Success => "warn",
        };
        let _ = write!(
            out,
            r#"<tr><td class="nowrap">{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td><span class="badge {outcome}">{}</span></td><td>{}</td><td class="error">{}</td></tr>"#,
            esc(&instant(entry.attempted_at)),
            esc(failure.account_id.as_str()),
            esc(&entry.subscription_id.to_string()),
            esc(&entry.notice_id.to_string()),
            esc(entry.status.as_str()),
            entry
                .status_code
                .map_or_else(|| "—".to_owned(), |code| code.to_string()),
            esc(entry.error.as_deref().unwrap_or("—")),
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use optout_core::subscription::{EntityType, SignalType};
    use optout_core::{AccountId, AuditEntry, NoticeId, ObjectId, SubscriptionId, WebhookUrl};

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant")
    }

    fn url() -> WebhookUrl {
        WebhookUrl::from_stored("https://receiver.example/hook?a=1&b=2").expect("valid URL")
    }

    #[test]
    fn a_disabled_subscription_shows_its_reason_escaped_and_since_when() {
        let subscription = Subscription {
            id: SubscriptionId::generate(at()),
            account_id: AccountId::from_number(100_001),
            entity_type: EntityType::Contact,
            signal_types: vec![SignalType::OptOut],
            url: url(),
            name: None,
            is_active: false,
            block_reason: Some("<script>alert(1)</script> kept failing".to_owned()),
            blocked_at: Some(at()),
            created_at: at(),
            updated_at: at(),
        };

        let html = subscriptions(&[subscription]);

        assert!(
            html.contains(r#"<span class="badge bad">disabled</span>"#),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt; kept failing"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("https://receiver.example/hook?a=1&amp;b=2"),
            "{html}"
        );
        assert!(html.contains("2023-11-14 22:13:20 UTC"), "{html}");
    }

    #[test]
    fn a_failure_shows_its_status_code_and_escaped_error() {
        let failure = AccountAuditEntry {
            account_id: AccountId::from_number(100_002),
            entry: AuditEntry {
                id: ObjectId::generate(at()),
                subscription_id: SubscriptionId::generate(at()),
                notice_id: NoticeId::generate(at()),
                status: AuditStatus::PermanentFailure,
                status_code: Some(503),
                url: url(),
                attempted_at: at(),
                duration_ms: 12,
                error: Some("HTTP 503 <b>down</b>".to_owned()),
            },
        };

        let html = failures(&[failure]);

        assert!(html.contains("<td>503</td>"), "{html}");
        assert!(
            html.contains(r#"<span class="badge bad">permanent_failure</span>"#),
            "{html}"
        );
        assert!(html.contains("HTTP 503 &lt;b&gt;down&lt;/b&gt;"), "{html}");
        assert!(html.contains("100002"), "{html}");
    }

    #[test]
    fn empty_lists_say_so() {
        assert!(subscriptions(&[]).contains("No subscriptions yet."));
        assert!(failures(&[]).contains("No failed attempts."));
    }
}
