//! The opt-out search: the form, and the compliance record it finds.

use optout_core::{ComplianceRecord, NoticeStatus, OptOutId, RecipientRecord};
use std::fmt::Write as _;

use super::html::{esc, instant};

/// The query parameter of the search.
pub(crate) const PARAMETER: &str = "optOut";
/// Most characters of a search echoed back: an id is 24, the rest is noise.
const ECHOED_CHARS: usize = 100;

/// What the search asked for, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query {
    /// No search.
    Empty,
    /// Text that is no opt-out id (kept to show it back).
    Malformed(String),
    /// A well-formed id.
    Id(OptOutId),
}

impl Query {
    /// Parses the search box's text.
    pub(crate) fn parse(text: Option<&str>) -> Self {
        let text = text.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Self::Empty;
        }
        match OptOutId::parse(text) {
            Some(id) => Self::Id(id),
            None => Self::Malformed(text.chars().take(ECHOED_CHARS).collect()),
        }
    }

    /// The text to put back in the search box.
    fn echo(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Malformed(text) => text.clone(),
            Self::Id(id) => id.to_string(),
        }
    }
}

/// The search form and, for a search, what it found.
pub(crate) fn section(query: &Query, record: Option<&ComplianceRecord>) -> String {
    let mut out = format!(
        r#"<section class="panel" id="search-panel"><h2>Compliance record</h2>
<form method="get" action="/ui" id="search-form" class="search" role="search">
<label for="search">Opt-out id</label>
<input type="search" id="search" name="{PARAMETER}" value="{}" placeholder="24 hexadecimal characters, e.g. 6a0ca910b402df368d2aff07" maxlength="200" spellcheck="false" autocomplete="off">
<button type="submit" id="search-button">Search</button>
</form>"#,
        esc(&query.echo())
    );
    match (query, record) {
        (Query::Empty, _) => {}
        (Query::Malformed(text), _) => {
            let _ = write!(
                out,
                r#"<p class="notice error" id="search-message">“{}” is not an opt-out id: ids are 24 hexadecimal characters.</p>"#,
                esc(text)
            );
        }
        (Query::Id(id), None) => {
            let _ = write!(
                out,
                r#"<p class="notice" id="search-message">No opt-out with id {}.</p>"#,
                esc(&id.to_string())
            );
        }
        (Query::Id(_), Some(record)) => out.push_str(&compliance_record(record)),
    }
    out.push_str("</section>");
    out
}

fn compliance_record(record: &ComplianceRecord) -> String {
    let mut out = format!(
        r#"<div id="compliance-record"><dl class="facts">
<div><dt>Opt-out id</dt><dd class="mono" id="record-opt-out-id">{}</dd></div>
<div><dt>Contact id</dt><dd class="mono" id="record-contact-id">{}</dd></div>
<div><dt>Opted out at</dt><dd>{}</dd></div>
<div><dt>Recorded at</dt><dd>{}</dd></div>
</dl>"#,
        esc(&record.opt_out_id.to_string()),
        esc(record.contact_id.as_str()),
        esc(&instant(record.opted_out_at)),
        esc(&instant(record.recorded_at)),
    );
    if record.recipients.is_empty() {
        out.push_str(
            r#"<p class="empty">No recipients: no account had received this contact's data.</p></div>"#,
        );
        return out;
    }
    out.push_str(
        r#"<div class="scroll"><table id="recipients"><thead><tr><th>Account</th><th>Notice</th><th>Status</th><th>Attempts</th><th>Last status code</th><th>Delivered at</th><th>Body</th></tr></thead><tbody>"#,
    );
    for recipient in &record.recipients {
        let _ = write!(
            out,
            r#"<tr><td class="mono">{}</td><td class="mono">{}</td><td><span class="badge {}">{}</span></td><td>{}</td><td>{}</td><td class="nowrap">{}</td><td class="nowrap">{}</td></tr>"#,
            esc(recipient.account_id.as_str()),
            esc(&recipient.notice_id.to_string()),
            status_tone(recipient.status),
            recipient.status.as_str(),
            recipient.attempts,
            recipient
                .last_status_code
                .map_or_else(|| "—".to_owned(), |code| code.to_string()),
            esc(&recipient
                .delivered_at
                .map_or_else(|| "—".to_owned(), instant)),
            esc(&body_kept(recipient)),
        );
    }
    out.push_str("</tbody></table></div></div>");
    out
}

/// What is left of the notice's body: kept, or purged (when, and how many datapoints' salted
/// hashes the record keeps instead).
fn body_kept(recipient: &RecipientRecord) -> String {
    match recipient.payload_purged_at {
        None => "kept".to_owned(),
        Some(purged_at) => {
            let hashes = recipient
                .evidence
                .as_ref()
                .map_or(0, |evidence| evidence.hashes.len());
            format!(
                "purged {}, {hashes} datapoint hashes kept",
                instant(purged_at)
            )
        }
    }
}

/// The colour of a notice's status: green delivered, amber held or retrying, grey in progress.
fn status_tone(status: NoticeStatus) -> &'static str {
    match status {
        NoticeStatus::Delivered => "good",
        NoticeStatus::Failed | NoticeStatus::Waiting => "warn",
        NoticeStatus::Pending | NoticeStatus::Delivering => "neutral",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_text_is_parsed_once() {
        assert_eq!(Query::parse(None), Query::Empty);
        assert_eq!(Query::parse(Some("   ")), Query::Empty);
        assert_eq!(
            Query::parse(Some(" 6a0ca910b402df368d2aff07 ")),
            Query::Id(OptOutId::parse("6a0ca910b402df368d2aff07").expect("an id"))
        );
        assert_eq!(
            Query::parse(Some("nope")),
            Query::Malformed("nope".to_owned())
        );
    }

    #[test]
    fn malformed_text_is_shown_back_escaped_and_cut_short() {
        let query = Query::parse(Some(&format!("<script>{}", "x".repeat(500))));

        let html = section(&query, None);

        assert!(html.contains("&lt;script&gt;xxx"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains(&"x".repeat(ECHOED_CHARS)), "{html}");
        assert!(html.contains("is not an opt-out id"), "{html}");
    }

    #[test]
    fn an_unknown_id_is_named_in_the_not_found_message() {
        let query = Query::parse(Some("6a0ca910b402df368d2aff07"));

        let html = section(&query, None);

        assert!(
            html.contains("No opt-out with id 6a0ca910b402df368d2aff07."),
            "{html}"
        );
        assert!(!html.contains(r#"id="compliance-record""#), "{html}");
    }
}
