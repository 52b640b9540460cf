//! One call as the engine keeps it: the SIP leg, its media and its audio.
use api::{CallDirection, CallId, CallState, CallStats, CallView};
use media::{AudioPort, LocalMedia, MediaSession};
use sip::LegId;

/// A call.
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) leg: LegId,
    pub(crate) direction: CallDirection,
    pub(crate) state: CallState,
    pub(crate) remote: String,
    pub(crate) sip_call_id: String,
    /// Our side of the media: the RTP address and our current offer/answer parameters.
    pub(crate) local: Option<LocalMedia>,
    /// The peer's offer in the INVITE, answered when we answer.
    pub(crate) offer: Option<String>,
    pub(crate) media: Option<MediaSession>,
    pub(crate) audio: Option<Box<dyn AudioPort>>,
    pub(crate) end_reason: Option<String>,
    pub(crate) dtmf_received: String,
    /// Digits asked for before the media was up.
    pub(crate) pending_dtmf: String,
    pub(crate) muted: bool,
    /// Outgoing, and the peer said 180 Ringing.
    pub(crate) alerting: bool,
    /// The interaction this call belongs to.
    pub(crate) interaction: Option<api::InteractionId>,
    /// How its digits are sent (its account's mode).
    pub(crate) dtmf: crate::config::DtmfMode,
    /// A transfer of its peer that we started.
    pub(crate) transfer: Option<crate::transfer::Transfer>,
    /// The local conference it is mixed in.
    pub(crate) conference: Option<u64>,
    /// The call it consults for (held meanwhile).
    pub(crate) consultation_of: Option<CallId>,
    /// The call whose peer's REFER made us place this one (we report back to it).
    pub(crate) referred_from: Option<CallId>,
    /// The peer has put us on hold (its last offer did not let us send).
    pub(crate) remote_hold: bool,
    /// This tick's captured audio and decoded audio (for the conference mix).
    pub(crate) captured: Vec<i16>,
    pub(crate) decoded: Vec<i16>,
}

impl Call {
    /// A call just placed (`Dialing`) or just rung in (`Ringing`): nothing has happened on
    /// it yet.
    pub(crate) fn new(
        id: CallId,
        leg: LegId,
        direction: CallDirection,
        remote: String,
        sip_call_id: String,
        dtmf: crate::config::DtmfMode,
    ) -> Self {
        Self {
            id,
            leg,
            direction,
            state: match direction {
                CallDirection::Outbound => CallState::Dialing,
                CallDirection::Inbound => CallState::Ringing,
            },
            remote,
            sip_call_id,
            local: None,
            offer: None,
            media: None,
            audio: None,
            end_reason: None,
            dtmf_received: String::new(),
            pending_dtmf: String::new(),
            muted: false,
            alerting: false,
            interaction: None,
            dtmf,
            transfer: None,
            conference: None,
            consultation_of: None,
            referred_from: None,
            remote_hold: false,
            captured: Vec::new(),
            decoded: Vec::new(),
        }
    }

    pub(crate) fn view(&self) -> CallView {
        let stats = self.media.as_ref().map(|m| {
            let s = m.stats();
            CallStats {
                packets_sent: s.packets_sent,
                packets_received: s.packets_received,
                concealed: s.jitter.concealed,
                recovered_fec: s.recovered_fec,
                late: s.jitter.late,
                ignored: s.ignored,
                underruns: s.jitter.underruns,
                jitter_buffer_ms: s.jitter.target_ms,
                playout_adjustments: s.jitter.accelerated + s.jitter.decelerated,
                jitter_ms: s.local.jitter_ms,
                lost: s.local.lost,
                remote_fraction_lost: s.remote.fraction_lost,
                remote_jitter_ms: s.remote.jitter_ms,
                rtt_ms: s.remote.rtt_ms,
                rtcp_received: s.rtcp_received,
                dtmf_sent: s.dtmf_sent,
                dtmf_received: s.dtmf_received,
            }
        });
        CallView {
            id: self.id,
            state: self.state,
            direction: self.direction,
            remote: self.remote.clone(),
            interaction_id: self.interaction,
            codec: self.media.as_ref().map(|m| m.codec().to_string()),
            muted: self.muted,
            stats: stats.unwrap_or_default(),
            sip_call_id: self.sip_call_id.clone(),
            end_reason: self.end_reason.clone(),
            dtmf_received: self.dtmf_received.clone(),
            transfer: self.transfer.as_ref().map(|t| t.status.to_string()),
            conference: self.conference,
            consultation_of: self.consultation_of,
        }
    }

    pub(crate) fn state_name(&self) -> String {
        format!("{:?}", self.state).to_ascii_lowercase()
    }
}
