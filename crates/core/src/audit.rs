//! The audit log: one row per delivery attempt (spec A9).

use chrono::{DateTime, Utc};

use crate::ids::ObjectId;
use crate::{NoticeId, SubscriptionId, WebhookUrl};

/// The outcome class of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStatus {
    /// 2xx in time.
    Success,
    /// Failed; a retry follows.
    Failed,
    /// Failed; no retry left, the subscription was disabled.
    PermanentFailure,
}

impl AuditStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
            Self::PermanentFailure => "permanent_failure",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(Self::Success),
            "failed" => Some(Self::Failed),
            "permanent_failure" => Some(Self::PermanentFailure),
            _ => None,
        }
    }
}

/// One attempt as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The row's id.
    pub id: ObjectId,
    /// The subscription attempted.
    pub subscription_id: SubscriptionId,
    /// The notice (stable across retries); test deliveries carry their own id.
    pub notice_id: NoticeId,
    /// Outcome class.
    pub status: AuditStatus,
    /// Response status, when a response came.
    pub status_code: Option<u16>,
    /// The URL attempted.
    pub url: WebhookUrl,
    /// When the attempt started.
    pub attempted_at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: u64,
    /// Why it failed; `None` on success.
    pub error: Option<String>,
}

/// Filters of the audit log listing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this subscription's attempts.
    pub subscription_id: Option<SubscriptionId>,
    /// Only attempts with this outcome.
    pub status: Option<AuditStatus>,
}

/// Counts of attempts (spec A9 stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// All attempts.
    pub total: u64,
    /// Successful ones.
    pub success: u64,
    /// `failed` and `permanent_failure` ones.
    pub failed: u64,
}

impl AuditStats {
    /// `"95.00%"`, or `"0.00%"` with no attempts.
    pub fn success_rate(&self) -> String {
        if self.total == 0 {
            return "0.00%".to_owned();
        }
        format!("{:.2}%", self.success as f64 * 100.0 / self.total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_has_two_decimals() {
        let stats = AuditStats {
            total: 3,
            success: 2,
            failed: 1,
        };
        assert_eq!(stats.success_rate(), "66.67%");
        assert_eq!(AuditStats::default().success_rate(), "0.00%");
    }
}
