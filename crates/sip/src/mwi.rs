//! The message-summary body (RFC 3842 §5.2): whether messages wait at a mailbox, and how many.

/// What a message summary says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    /// `Messages-Waiting: yes`.
    pub waiting: bool,
    /// `Message-Account`, when given.
    pub account: Option<String>,
    /// `Voice-Message: new/old`, when given.
    pub voice: Option<(u32, u32)>,
}

impl MessageSummary {
    /// Reads a summary; `None` without its one mandatory line, `Messages-Waiting`.
    #[must_use]
    pub fn parse(body: &str) -> Option<Self> {
        let mut waiting = None;
        let mut account = None;
        let mut voice = None;
        for line in body.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "messages-waiting" => waiting = Some(value.eq_ignore_ascii_case("yes")),
                "message-account" => account = Some(value.to_owned()),
                "voice-message" => {
                    // `new/old` and perhaps ` (urgent-new/urgent-old)`.
                    let counts = value.split_whitespace().next().unwrap_or_default();
                    voice = counts.split_once('/').and_then(|(new, old)| {
                        Some((new.trim().parse().ok()?, old.trim().parse().ok()?))
                    });
                }
                _ => {}
            }
        }
        Some(Self {
            waiting: waiting?,
            account,
            voice,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_3842_example_reads() {
        let body = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n\
                    Voice-Message: 4/8 (1/2)\r\n";
        assert_eq!(
            MessageSummary::parse(body),
            Some(MessageSummary {
                waiting: true,
                account: Some("sip:alice@vmail.example.com".to_owned()),
                voice: Some((4, 8)),
            })
        );
        let none = MessageSummary::parse("messages-waiting: no\n").expect("summary");
        assert_eq!((none.waiting, none.voice), (false, None));
        assert_eq!(MessageSummary::parse("Voice-Message: 1/0\r\n"), None);
        assert_eq!(
            MessageSummary::parse("Messages-Waiting: yes\r\nVoice-Message: x/y\r\n")
                .map(|s| s.voice),
            Some(None)
        );
    }
}
