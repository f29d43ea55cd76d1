//! The summary cards: how the queue and the subscriptions stand now.

use chrono::{DateTime, Utc};
use optout_store::QueueMetrics;
use std::fmt::Write as _;

use super::html::{count, duration, esc};

/// A due notice waiting longer than this is worth the operator's attention: deliveries
/// normally leave within seconds, so five minutes means the engine is behind or failing.
const OLDEST_DUE_WARNING_SECS: i64 = 5 * 60;

/// How a card's number should be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Good,
    /// The number itself calls for attention.
    Warn,
    /// The detail line calls for attention (the number does not).
    WarnDetail,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Good => "good",
            Self::Warn => "warn",
            Self::WarnDetail => "warn-detail",
        }
    }
}

struct Card {
    id: &'static str,
    label: &'static str,
    value: String,
    detail: String,
    tone: Tone,
}

/// The cards, from the queue as it stood at `now`.
pub(crate) fn section(queue: &QueueMetrics, now: DateTime<Utc>) -> String {
    let oldest_due_secs = queue
        .oldest_due_at
        .map(|due| (now - due).num_seconds().max(0));
    let cards = [
        Card {
            id: "card-queue-depth",
            label: "Queue depth",
            value: count(queue.queue_depth()),
            detail: format!(
                "{} pending · {} delivering · {} awaiting retry",
                count(queue.pending),
                count(queue.delivering),
                count(queue.failed)
            ),
            tone: Tone::Plain,
        },
        Card {
            id: "card-oldest-due",
            label: "Oldest due",
            value: oldest_due_secs.map_or_else(|| "none".to_owned(), duration),
            detail: "how long the longest-due notice has waited".to_owned(),
            tone: match oldest_due_secs {
                Some(age) if age > OLDEST_DUE_WARNING_SECS => Tone::Warn,
                _ => Tone::Plain,
            },
        },
        Card {
            id: "card-failed",
            label: "Failed",
            value: count(queue.failed),
            detail: "last attempt failed, awaiting retry".to_owned(),
            tone: warn_if(queue.failed > 0),
        },
        Card {
            id: "card-waiting",
            label: "Waiting",
            value: count(queue.waiting),
            detail: "held: the account has no active subscription".to_owned(),
            tone: Tone::Plain,
        },
        Card {
            id: "card-delivered",
            label: "Delivered",
            value: count(queue.delivered),
            detail: "acknowledged by their receiver, all time".to_owned(),
            tone: Tone::Good,
        },
        Card {
            id: "card-subscriptions",
            label: "Subscriptions",
            value: format!("{} active", count(queue.active_subscriptions)),
            detail: format!("{} disabled", count(queue.disabled_subscriptions)),
            tone: if queue.disabled_subscriptions > 0 {
                Tone::WarnDetail
            } else {
                Tone::Plain
            },
        },
    ];
    let mut out = String::from(r#"<section class="cards" id="summary">"#);
    for card in cards {
        let _ = write!(
            out,
            r#"<div class="card {tone}" id="{id}"><div class="label">{label}</div><div class="value">{value}</div><div class="detail">{detail}</div></div>"#,
            tone = card.tone.class(),
            id = card.id,
            label = card.label,
            value = esc(&card.value),
            detail = esc(&card.detail),
        );
    }
    out.push_str("</section>");
    out
}

fn warn_if(condition: bool) -> Tone {
    if condition {
        Tone::Warn
    } else {
        Tone::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_show_the_queue_and_flag_failures_and_an_old_due_notice() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant");
        let queue = QueueMetrics {
            pending: 3,
            delivering: 1,
            failed: 2,
            waiting: 7,
            delivered: 1_500,
            oldest_due_at: Some(now - chrono::Duration::minutes(10)),
            active_subscriptions: 4,
            disabled_subscriptions: 2,
        };

        let html = section(&queue, now);

        assert!(html.contains(r#"id="card-queue-depth"><div class="label">Queue depth</div><div class="value">6</div>"#), "{html}");
        assert!(html.contains(r#"<div class="card warn" id="card-oldest-due"><div class="label">Oldest due</div><div class="value">10 min</div>"#), "{html}");
        assert!(
            html.contains(r#"<div class="card warn" id="card-failed">"#),
            "{html}"
        );
        assert!(html.contains(r#"<div class="card warn-detail" id="card-subscriptions"><div class="label">Subscriptions</div><div class="value">4 active</div><div class="detail">2 disabled</div>"#), "{html}");
    }
}
