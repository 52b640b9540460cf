//! A call leg: one INVITE dialog seen from our side, as caller (UAC) or callee (UAS).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use sipx_sip::Request;

use crate::auth::DigestAuth;
use crate::config::Credentials;
use crate::dialog::Dialog;
use crate::timers::TxId;
use crate::transport::Dest;

/// Identifies a call leg inside one user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leg-{}", self.0)
    }
}

/// The state of a leg, as the layer above sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// UAC: INVITE sent, nothing heard yet.
    Calling,
    /// UAC: a provisional response arrived (early dialog).
    Proceeding,
    /// UAS: INVITE received, not yet answered.
    Ringing,
    /// UAS: 2xx sent, waiting for the ACK.
    Answering,
    /// The dialog is confirmed.
    Confirmed,
    /// BYE or CANCEL sent, waiting for the end.
    Terminating,
}

impl LegState {
    /// The state in words, for error messages.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calling => "calling",
            Self::Proceeding => "proceeding",
            Self::Ringing => "ringing",
            Self::Answering => "answering",
            Self::Confirmed => "confirmed",
            Self::Terminating => "terminating",
        }
    }
}

/// Which side of the INVITE we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Uac,
    Uas,
}

/// A response the UAS core retransmits itself, T1 doubling to T2: a 2xx until its ACK
/// (RFC 3261 §13.3.1.4), a reliable 1xx until its PRACK (RFC 3262 §3).
#[derive(Debug, Clone)]
pub(crate) struct Resent {
    pub(crate) bytes: Bytes,
    pub(crate) dest: Dest,
    pub(crate) interval: Duration,
}

/// A 2xx to an INVITE that the UAS core retransmits until the ACK (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone)]
pub(crate) struct Pending2xx {
    pub(crate) resent: Resent,
    /// CSeq of the INVITE it answers; the ACK carries the same number.
    pub(crate) cseq: u32,
}

/// Our outstanding re-INVITE.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingReInvite {
    pub(crate) sdp: Option<Bytes>,
    pub(crate) tx: Option<TxId>,
}

/// A peer's re-INVITE that we have not answered yet.
#[derive(Debug, Clone)]
pub(crate) struct IncomingReInvite {
    pub(crate) tx: TxId,
    pub(crate) request: Request,
}

/// Who refreshes a session (RFC 4028 §7.1 `refresher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Uac => "uac",
            Self::Uas => "uas",
        }
    }
}

/// A session timer in force (RFC 4028): the interval and whether we refresh it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    pub(crate) interval: Duration,
    pub(crate) we_refresh: bool,
}

/// UAS: a reliable provisional response (RFC 3262 §3) retransmitted until its PRACK.
#[derive(Debug, Clone)]
pub(crate) struct Pending1xx {
    pub(crate) resent: Resent,
    pub(crate) rseq: u32,
}

/// A call leg.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) role: Role,
    pub(crate) state: LegState,
    pub(crate) dialog: Dialog,
    pub(crate) credentials: Option<Credentials>,
    /// The initial INVITE: as sent (UAC, for CANCEL and auth retries) or as received (UAS).
    pub(crate) invite: Request,
    /// The transaction of the initial INVITE while it is alive.
    pub(crate) invite_tx: Option<TxId>,
    pub(crate) auth: Option<DigestAuth>,
    /// Consecutive challenges answered for the initial INVITE.
    pub(crate) auth_attempts: u8,
    /// UAC: hang-up was asked for before a provisional response; CANCEL once one arrives.
    pub(crate) cancel_pending: bool,
    /// UAC: we cancelled; a 2xx that races the CANCEL must be ACKed and BYEd.
    pub(crate) cancelled: bool,
    /// Why we cancelled, reported when the 487 arrives.
    pub(crate) cancel_reason: Option<crate::event::EndReason>,
    /// UAC: the ACK we sent for the 2xx, re-sent if the 2xx is retransmitted.
    pub(crate) ack: Option<(Bytes, Dest)>,
    /// UAS: a 2xx being retransmitted.
    pub(crate) pending_2xx: Option<Pending2xx>,
    pub(crate) reinvite_out: Option<OutgoingReInvite>,
    pub(crate) reinvite_in: Option<IncomingReInvite>,
    /// Our REFER was accepted and its implicit subscription (RFC 3515 §2.4.4) has not been
    /// terminated yet: how long it lasts after the INVITE usage ends (RFC 5057 §5.4: the
    /// BYE ends only the INVITE usage), from the last NOTIFY's `expires`.
    pub(crate) refer_subscription: Option<Duration>,
    /// UAC: the RSeq of the last reliable provisional response we PRACKed (RFC 3262 §4).
    pub(crate) rseq_in: Option<u32>,
    /// UAS: the RSeq of our last reliable provisional response.
    pub(crate) rseq_out: u32,
    /// UAS: our reliable provisional response awaiting its PRACK.
    pub(crate) reliable_1xx: Option<Pending1xx>,
    /// The session timer in force, once the INVITE is answered (RFC 4028).
    pub(crate) session: Option<SessionTimer>,
    /// UAS: what the INVITE asked of the session timer: the interval, the refresher it named,
    /// and whether the caller supports `timer`.
    pub(crate) session_asked: Option<(Duration, Option<Refresher>, bool)>,
    /// Our session refresh in flight (RFC 4028 §7.4, §8.3): its transaction, and whether it
    /// is a re-INVITE (an UPDATE otherwise).
    pub(crate) refresh: Option<(TxId, bool)>,
    /// The peer accepts UPDATE (its `Allow` said so): refreshes go as UPDATE.
    pub(crate) peer_update: bool,
    /// The session description we last sent, offered again by a re-INVITE refresh.
    pub(crate) local_sdp: Option<Bytes>,
    /// UAC: how many times the INVITE was sent again after 422 (RFC 4028 §7.2).
    pub(crate) too_small_retries: u8,
}

impl Leg {
    /// A leg in its first state, with nothing negotiated yet.
    pub(crate) fn new(role: Role, state: LegState, dialog: Dialog, invite: Request) -> Self {
        Self {
            role,
            state,
            dialog,
            credentials: None,
            invite,
            invite_tx: None,
            auth: None,
            auth_attempts: 0,
            cancel_pending: false,
            cancelled: false,
            cancel_reason: None,
            ack: None,
            pending_2xx: None,
            reinvite_out: None,
            reinvite_in: None,
            refer_subscription: None,
            rseq_in: None,
            rseq_out: 0,
            reliable_1xx: None,
            session: None,
            session_asked: None,
            refresh: None,
            peer_update: false,
            local_sdp: None,
            too_small_retries: 0,
        }
    }
}
