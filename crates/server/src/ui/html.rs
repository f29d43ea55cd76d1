//! Writing HTML safely: every dynamic value goes through [`esc`], and the dashboard's few
//! formats of numbers and instants live here.

use chrono::{DateTime, Utc};
use std::fmt;

/// Text escaped for HTML element content and double- or single-quoted attribute values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Escaped<'a>(&'a str);

/// Escapes `text` for HTML, when formatted.
pub(crate) fn esc(text: &str) -> Escaped<'_> {
    Escaped(text)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(index) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..index])?;
            let entity = match rest.as_bytes()[index] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            };
            f.write_str(entity)?;
            rest = &rest[index + 1..];
        }
        f.write_str(rest)
    }
}

/// An instant as the dashboard shows it: `2026-05-19 18:16:48 UTC`.
pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A short duration: `45 s`, `12 min`, `3 h 05 min`, `2 d 04 h`.
pub(crate) fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{} min", seconds / 60),
        3_600..86_400 => format!("{} h {:02} min", seconds / 3_600, seconds % 3_600 / 60),
        _ => format!("{} d {:02} h", seconds / 86_400, seconds % 86_400 / 3_600),
    }
}

/// A count with thin groups of thousands: `1 234 567`.
pub(crate) fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        let text = esc(r#"<script>alert("x" & 'y')</script>"#).to_string();

        assert_eq!(
            text,
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn plain_and_non_ascii_text_is_kept() {
        assert_eq!(esc("Zoë 42 — ok").to_string(), "Zoë 42 — ok");
        assert_eq!(esc("").to_string(), "");
    }

    #[test]
    fn durations_use_the_largest_sensible_unit() {
        assert_eq!(duration(-5), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(3_900), "1 h 05 min");
        assert_eq!(duration(2 * 86_400 + 4 * 3_600), "2 d 04 h");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
    }
}
