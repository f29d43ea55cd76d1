//! Export formats of the suppression list: CSV with a header line, or NDJSON.

use chrono::SecondsFormat;
use serde::Serialize;
use std::io::{self, Write};

use crate::store::{type_name, Suppression};

/// How [`crate::SuppressionStore::export`] writes the list.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// RFC 4180 CSV: a header line, then `contact_id,datapoint_id,datapoint_type,opted_out_at,
    /// received_at,webhook_id` per row, fields quoted only when they need it.
    #[default]
    Csv,
    /// One JSON object per line: `contactId, datapointId, datapointType, optedOutAt, receivedAt,
    /// webhookId`.
    Ndjson,
}

const CSV_HEADER: &str =
    "contact_id,datapoint_id,datapoint_type,opted_out_at,received_at,webhook_id\n";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    contact_id: &'a str,
    datapoint_id: &'a str,
    datapoint_type: &'a str,
    opted_out_at: &'a str,
    received_at: &'a str,
    webhook_id: &'a str,
}

pub(crate) fn write_header(format: ExportFormat, out: &mut impl Write) -> io::Result<()> {
    match format {
        ExportFormat::Csv => out.write_all(CSV_HEADER.as_bytes()),
        ExportFormat::Ndjson => Ok(()),
    }
}

pub(crate) fn write_row(
    format: ExportFormat,
    row: &Suppression,
    out: &mut impl Write,
) -> io::Result<()> {
    let received_at = row.received_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let line = Line {
        contact_id: &row.contact_id,
        datapoint_id: &row.datapoint_id,
        datapoint_type: type_name(row.datapoint_type),
        opted_out_at: &row.opted_out_at,
        received_at: &received_at,
        webhook_id: &row.webhook_id,
    };
    match format {
        ExportFormat::Csv => {
            let fields = [
                line.contact_id,
                line.datapoint_id,
                line.datapoint_type,
                line.opted_out_at,
                line.received_at,
                line.webhook_id,
            ];
            for (index, field) in fields.into_iter().enumerate() {
                if index > 0 {
                    out.write_all(b",")?;
                }
                write_csv_field(field, out)?;
            }
            out.write_all(b"\n")
        }
        ExportFormat::Ndjson => {
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")
        }
    }
}

/// Quotes a field when it holds a comma, a quote or a line break, doubling inner quotes.
fn write_csv_field(field: &str, out: &mut impl Write) -> io::Result<()> {
    if field.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", field.replace('"', "\"\""))
    } else {
        out.write_all(field.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone as _, Utc};
    use optout_webhook::DatapointType;

    fn row(datapoint_id: &str) -> Suppression {
        Suppression {
            contact_id: "987654321".to_owned(),
            datapoint_id: datapoint_id.to_owned(),
            datapoint_type: DatapointType::Email,
            opted_out_at: "2026-04-22 14:32:11.412".to_owned(),
            received_at: Utc.timestamp_millis_opt(1_767_225_600_123).unwrap(),
            webhook_id: "6a0ca910b402df368d2aff07".to_owned(),
        }
    }

    fn render(format: ExportFormat, rows: &[Suppression]) -> String {
        let mut out = Vec::new();
        write_header(format, &mut out).unwrap();
        for row in rows {
            write_row(format, row, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_has_a_header_and_plain_fields_unquoted() {
        assert_eq!(
            render(ExportFormat::Csv, &[row("jane@acme.com")]),
            "contact_id,datapoint_id,datapoint_type,opted_out_at,received_at,webhook_id\n\
             987654321,jane@acme.com,email,2026-04-22 14:32:11.412,2026-01-01T00:00:00.123Z,\
             6a0ca910b402df368d2aff07\n"
        );
    }

    #[test]
    fn csv_quotes_fields_with_commas_and_doubles_quotes() {
        let text = render(ExportFormat::Csv, &[row("\"odd\",value@x.com")]);
        assert!(
            text.contains(",\"\"\"odd\"\",value@x.com\",email,"),
            "{text}"
        );
    }

    #[test]
    fn ndjson_is_one_camel_case_object_per_line() {
        let text = render(ExportFormat::Ndjson, &[row("a@x.com"), row("b@x.com")]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"contactId":"987654321","datapointId":"a@x.com","datapointType":"email","optedOutAt":"2026-04-22 14:32:11.412","receivedAt":"2026-01-01T00:00:00.123Z","webhookId":"6a0ca910b402df368d2aff07"}"#
        );
    }
}
