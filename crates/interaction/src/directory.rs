//! The agent's directory: contacts (matched to interactions by number) and standard responses
//! (searchable texts the agent can paste).

use serde::{Deserialize, Serialize};

/// A person or company the agent deals with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contact {
    /// Its id (assigned by the store).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Phone numbers, in any format.
    pub numbers: Vec<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Free text.
    pub notes: Option<String>,
    /// Postal address (lines separated by newlines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The language the contact prefers (`es`, `en-GB`, or as the centre writes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The centre's own fields (`[[desktop.contact_fields]]` names and labels them): key →
    /// value.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// A prepared text for the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StandardResponse {
    /// Its id (assigned by the store).
    pub id: u64,
    /// Short title.
    pub title: String,
    /// The text.
    pub body: String,
}

/// The digits of a number (a leading `+` and every separator dropped).
fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Whether two numbers are the same line: equal digits, or — when one carries a country or
/// trunk prefix the other lacks — the same last nine digits.
#[must_use]
pub fn same_number(a: &str, b: &str) -> bool {
    let (a, b) = (digits(a), digits(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let tail = 9;
    a.len() >= tail && b.len() >= tail && a[a.len() - tail..] == b[b.len() - tail..]
}

/// What the store indexes a number by, so that [`same_number`] candidates are one lookup: its
/// last nine digits (all of them when it has fewer; empty when it has none).
#[must_use]
pub fn number_key(number: &str) -> String {
    let digits = digits(number);
    let tail = digits.len().saturating_sub(9);
    digits[tail..].to_owned()
}

/// The first contact with a number matching `number`.
#[must_use]
pub fn find_contact<'a>(contacts: &'a [Contact], number: &str) -> Option<&'a Contact> {
    contacts
        .iter()
        .find(|c| c.numbers.iter().any(|n| same_number(n, number)))
}

/// Responses whose title or text contains every word of `query` (case-insensitive).
#[must_use]
pub fn search_responses<'a>(
    responses: &'a [StandardResponse],
    query: &str,
) -> Vec<&'a StandardResponse> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    responses
        .iter()
        .filter(|r| {
            let text = format!("{} {}", r.title, r.body).to_lowercase();
            words.iter().all(|w| text.contains(w))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_across_formats_and_prefixes() {
        for (a, b, same) in [
            ("+1 555 0100", "15550100", true),
            ("+44 20 7946 0000", "020 7946 0000", true),
            ("+44 20 7946 0000", "0044 20 7946 0000", true),
            ("+1 555 0100", "+1 555 0101", false),
            ("", "", false),
        ] {
            assert_eq!(same_number(a, b), same, "{a} vs {b}");
            // The store finds every same number by one key lookup.
            if same {
                assert_eq!(number_key(a), number_key(b), "{a} vs {b}");
            }
        }
        assert_eq!(number_key("+34 600 123 456"), "600123456");
        assert_eq!(number_key("+1 555 0100"), "15550100");
        assert_eq!(number_key("anonymous"), "");
        let contacts = vec![Contact {
            id: 1,
            name: "Ana".to_owned(),
            numbers: vec!["+34 600 123 456".to_owned()],
            ..Contact::default()
        }];
        assert_eq!(find_contact(&contacts, "600123456").map(|c| c.id), Some(1));
        assert!(find_contact(&contacts, "600123457").is_none());
    }

    #[test]
    fn responses_are_found_by_every_word() {
        let responses = vec![
            StandardResponse {
                id: 1,
                title: "Refund policy".to_owned(),
                body: "Refunds take 5 working days.".to_owned(),
            },
            StandardResponse {
                id: 2,
                title: "Opening hours".to_owned(),
                body: "We open at 9.".to_owned(),
            },
        ];
        let ids = |q| {
            search_responses(&responses, q)
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("refund days"), [1]);
        assert_eq!(ids("OPEN"), [2]);
        assert_eq!(ids(""), [1, 2]);
        assert!(ids("refund hours").is_empty());
    }
}
