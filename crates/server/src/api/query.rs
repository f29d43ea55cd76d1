//! Query strings of list endpoints: known parameters only, each checked.

use std::collections::BTreeMap;

/// The query parameters of a request, by name (the last value wins), refusing unknown names.
#[derive(Debug)]
pub(crate) struct QueryParams {
    values: BTreeMap<String, String>,
    errors: Vec<String>,
}

impl QueryParams {
    /// Parses `raw`, noting every parameter not in `allowed`.
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Self {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if allowed.contains(&key.as_ref()) {
                values.insert(key.into_owned(), value.into_owned());
            } else {
                errors.push(format!("unknown query parameter {key}"));
            }
        }
        Self { values, errors }
    }

    /// An integer parameter within `min..=max`, or `default` when absent.
    pub(crate) fn integer(&mut self, key: &str, min: u64, max: u64, default: u64) -> u64 {
        match self.values.get(key) {
            None => default,
            Some(text) => match text.parse::<u64>() {
                Ok(value) if (min..=max).contains(&value) => value,
                _ => {
                    let range = if max == u64::MAX {
                        format!("an integer of at least {min}")
                    } else {
                        format!("an integer between {min} and {max}")
                    };
                    self.errors.push(format!("{key} must be {range}"));
                    default
                }
            },
        }
    }

    /// A text parameter, if present.
    pub(crate) fn text(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Records a problem with a value.
    pub(crate) fn problem(&mut self, message: String) {
        self.errors.push(message);
    }

    /// Every problem found, or `Ok` when there is none.
    pub(crate) fn finish(self) -> Result<(), Vec<String>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
