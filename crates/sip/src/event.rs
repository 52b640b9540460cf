//! What the user agent tells its user.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::leg::LegId;
use crate::registration::AccountId;
use crate::transport::Dest;

/// Something that happened, for the layer above (the engine).
#[derive(Debug, Clone)]
pub enum Event {
    /// A NOTIFY (RFC 6665) in one of our subscriptions, or an unsolicited message summary
    /// (RFC 3842 §3, `subscription` `None`); already answered 200.
    Notified {
        /// The subscription it is about.
        subscription: Option<crate::SubscriptionId>,
        /// The event package (`dialog`, `presence`, `message-summary`).
        event: String,
        /// The subscription's state it gives.
        state: crate::SubscriptionState,
        /// The body's type.
        content_type: Option<String>,
        /// The state document.
        body: Bytes,
    },
    /// A subscription was refused or went unanswered; it is tried again after `retry`.
    SubscriptionFailed {
        /// Which.
        subscription: crate::SubscriptionId,
        /// The status (408 for no answer).
        status: u16,
        /// Why, in words.
        reason: String,
        /// When it is tried again (`None`: not: the notifier lacks the package).
        retry: Option<Duration>,
    },
    /// A registration was accepted; it will be refreshed before `expires` runs out.
    Registered {
        /// The account.
        account: AccountId,
        /// The lifetime the registrar granted.
        expires: Duration,
    },
    /// A registration attempt failed; it is retried later unless the failure is final.
    RegistrationFailed {
        /// The account.
        account: AccountId,
        /// Why.
        reason: RegistrationFailure,
    },
    /// An un-REGISTER completed (or gave up).
    Unregistered {
        /// The account.
        account: AccountId,
    },
    /// A new INVITE arrived. The leg waits in `Ringing` for `ring`, `answer` or `reject`.
    IncomingCall {
        /// The new leg.
        leg: LegId,
        /// What the INVITE says: its headers (attached data), body parts, offer, caller and
        /// any auto-answer request.
        invite: Box<crate::IncomingInvite>,
        /// Where it came from.
        source: Dest,
        /// The confirmed leg its `Replaces` header names (RFC 3891): the caller takes that
        /// call's place (an attended transfer completing at us).
        replaces: Option<LegId>,
    },
    /// Our REFER (RFC 3515) was answered: 202 means the peer is trying the transfer.
    ReferAnswered {
        /// The leg it was sent in.
        leg: LegId,
        /// The final status.
        status: u16,
    },
    /// A NOTIFY about our REFER (RFC 3515 §2.4.5): how the transfer's call is going, as the
    /// status in its `message/sipfrag` body. Already answered 200.
    TransferProgress {
        /// The leg the REFER was sent in.
        leg: LegId,
        /// The status the new call got (100 trying, 180 ringing, 200 answered, 486 busy…).
        status: u16,
        /// The subscription ended (`Subscription-State: terminated`): this is the outcome.
        done: bool,
    },
    /// The peer asks us to call someone else (RFC 3515), already answered 202. Report how it
    /// goes with [`crate::UserAgent::notify_transfer`].
    ReferReceived {
        /// The leg the REFER came in.
        leg: LegId,
        /// Whom to call (the `Refer-To` URI without its header part).
        target: String,
        /// A `Replaces` value the new INVITE must carry (attended transfer, RFC 3891).
        replaces: Option<String>,
        /// Who asked (`Referred-By`), to copy into the new INVITE (RFC 3892).
        referred_by: Option<String>,
    },
    /// A provisional response to our INVITE.
    Progress {
        /// The leg.
        leg: LegId,
        /// Status code, 101–199.
        status: u16,
        /// Early-media session description, if any.
        sdp: Option<Bytes>,
    },
    /// Our INVITE was answered with 2xx; the ACK has been sent.
    Answered {
        /// The leg.
        leg: LegId,
        /// The answer (or offer, for a late-offer INVITE).
        sdp: Option<Bytes>,
    },
    /// The ACK for our 2xx arrived: the dialog is confirmed.
    Confirmed {
        /// The leg.
        leg: LegId,
    },
    /// The peer sent a re-INVITE; answer it with `accept_reinvite` or `reject_reinvite`.
    ReInvite {
        /// The leg.
        leg: LegId,
        /// The new offer, if any.
        sdp: Option<Bytes>,
    },
    /// Our re-INVITE completed.
    ReInviteDone {
        /// The leg.
        leg: LegId,
        /// The answer on success; the failure status otherwise.
        result: Result<Option<Bytes>, u16>,
    },
    /// A DTMF digit sent as SIP INFO (`application/dtmf-relay`, `Signal=`); answered 200.
    DtmfInfo {
        /// The leg.
        leg: LegId,
        /// `0`-`9`, `*`, `#` or `A`-`D`.
        digit: char,
    },
    /// Any other INFO request in a dialog; already answered 200.
    Info {
        /// The leg.
        leg: LegId,
        /// Its Content-Type, if any.
        content_type: Option<String>,
        /// Its body.
        body: Bytes,
    },
    /// The peer asked us to act: `talk` (answer, or resume) or `hold`, by in-dialog NOTIFY.
    RemoteControl {
        /// The leg.
        leg: LegId,
        /// `talk` or `hold`.
        event: String,
    },
    /// The leg is over. Nothing more will be said about it.
    Ended {
        /// The leg.
        leg: LegId,
        /// Why it ended.
        reason: EndReason,
    },
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationFailure {
    /// The registrar rejected our credentials (or none were configured).
    AuthFailed {
        /// The realm challenged in.
        realm: String,
    },
    /// The registrar answered with a failure status.
    Rejected {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
    },
    /// No answer within 64·T1 (RFC 3261 Timer F).
    Timeout,
    /// The transport could not deliver (why, when the transport said: a refused
    /// connection, a certificate the server presented and we could not trust).
    TransportError {
        /// What the transport reported.
        detail: Option<String>,
    },
}

impl fmt::Display for RegistrationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthFailed { realm } => write!(
                f,
                "authentication failed in realm {realm:?}: check the account's username and password"
            ),
            Self::Rejected { status, reason } => write!(f, "registrar answered {status} {reason}"),
            Self::Timeout => f.write_str("registrar did not answer (timeout)"),
            Self::TransportError { detail: None } => {
                f.write_str("could not reach the registrar (transport error)")
            }
            Self::TransportError {
                detail: Some(detail),
            } => write!(f, "could not reach the registrar: {detail}"),
        }
    }
}

/// Why a call leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (BYE), cancelled (CANCEL) or rejected.
    Local,
    /// The peer sent BYE.
    RemoteBye,
    /// The caller cancelled before we answered (RFC 3261 §9.2: 487 sent).
    RemoteCancel,
    /// Our INVITE got a final failure response.
    Rejected {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
    },
    /// Our INVITE got no response within 64·T1 (RFC 3261 §17.1.1.2, Timer B).
    Timeout,
    /// Our INVITE rang for longer than the ring timeout and was cancelled.
    NoAnswer,
    /// We answered but no ACK came within 64·T1 (RFC 3261 §13.3.1.4); BYE was sent.
    NoAck,
    /// The peer challenged and our credentials were refused (or none are configured).
    AuthFailed,
    /// The transport failed, or a request in the dialog timed out (RFC 3261 §12.2.1.2).
    TransportError,
    /// We refused an INVITE because our reliable provisional response got no PRACK within
    /// 64·T1 (RFC 3262 §3).
    NoPrack,
    /// The session timer ran out without a refresh (RFC 4028 §10); BYE was sent.
    SessionExpired,
    /// The peer answered a request in the dialog 481 or 408: it no longer has the call
    /// (RFC 3261 §14.1; after a transfer, the PBX has already moved the peer elsewhere).
    DialogGone {
        /// 481 or 408.
        status: u16,
    },
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("hung up locally"),
            Self::RemoteBye => f.write_str("remote party hung up"),
            Self::RemoteCancel => f.write_str("caller cancelled"),
            Self::Rejected { status, reason } => match status {
                486 | 600 => write!(f, "busy ({status} {reason})"),
                603 => write!(f, "declined ({status} {reason})"),
                404 | 604 => write!(f, "not found ({status} {reason})"),
                _ => write!(f, "rejected ({status} {reason})"),
            },
            Self::Timeout => f.write_str("timeout: no response to INVITE (Timer B)"),
            Self::NoAnswer => f.write_str("no answer: ring timeout reached, call cancelled"),
            Self::NoAck => f.write_str("no ACK for our 200 OK within 64*T1; sent BYE"),
            Self::AuthFailed => f.write_str("auth failed: credentials refused by the peer"),
            Self::TransportError => f.write_str("transport error"),
            Self::NoPrack => {
                f.write_str("no PRACK for our reliable provisional response within 64*T1")
            }
            Self::SessionExpired => {
                f.write_str("session expired: no session refresh in time (RFC 4028)")
            }
            Self::DialogGone { status: 481 } => {
                f.write_str("the peer no longer has the call (481 Call/Transaction Does Not Exist)")
            }
            Self::DialogGone { status } => {
                write!(f, "the peer no longer has the call ({status})")
            }
        }
    }
}
