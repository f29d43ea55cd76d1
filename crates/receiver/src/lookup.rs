//! The lookup key: the normalised form of a value under which it is suppressed and checked.

use optout_webhook::DatapointType;

/// The key under which `value` is suppressed: a lowercased, trimmed email address, or the digits
/// of a phone number.
///
/// Normalising errs towards suppressing: `Jane.Doe@Acme.com` matches `jane.doe@acme.com`, and
/// `+1 (415) 555-0199` matches `+14155550199`. A false match only means one contact too few; a
/// missed one means contacting someone who opted out. A phone value without any digit keeps its
/// trimmed, lowercased text, so it still matches itself.
pub fn lookup_key(datapoint_type: DatapointType, value: &str) -> String {
    let trimmed = value.trim();
    match datapoint_type {
        DatapointType::Email => trimmed.to_lowercase(),
        DatapointType::Phone => {
            let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
            if digits.is_empty() {
                trimmed.to_lowercase()
            } else {
                digits
            }
        }
    }
}

/// What a value given to `check` most likely is: an email address if it has an `@`.
pub(crate) fn guess_type(value: &str) -> DatapointType {
    if value.contains('@') {
        DatapointType::Email
    } else {
        DatapointType::Phone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_without_case_or_surrounding_spaces() {
        assert_eq!(
            lookup_key(DatapointType::Email, " Jane.Doe@Acme.COM "),
            "jane.doe@acme.com"
        );
    }

    #[test]
    fn phones_compare_by_their_digits() {
        assert_eq!(
            lookup_key(DatapointType::Phone, "+1 (415) 555-0199"),
            lookup_key(DatapointType::Phone, "+14155550199")
        );
    }

    #[test]
    fn a_phone_without_digits_still_matches_itself() {
        assert_eq!(lookup_key(DatapointType::Phone, " Unlisted "), "unlisted");
    }

    #[test]
    fn a_value_with_an_at_sign_is_taken_for_an_email() {
        assert_eq!(guess_type("a@b"), DatapointType::Email);
        assert_eq!(guess_type("+1 415"), DatapointType::Phone);
    }
}
