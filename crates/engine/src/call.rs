//! One call as the engine keeps it: the SIP leg, its media and its audio.
use api::{CallDirection, CallId, CallState, CallStats, CallView};
use media::{AudioPort, Codec, LocalMedia, MediaSession};
use sip::LegId;

/// A call: who and what it is, which lasts its whole life, and its [`Phase`], which holds
/// only what the call has in that state.
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) leg: LegId,
    pub(crate) direction: CallDirection,
    pub(crate) remote: String,
    pub(crate) sip_call_id: String,
    pub(crate) phase: Phase,
    pub(crate) dtmf_received: String,
    pub(crate) muted: bool,
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
    /// Its signalling is encrypted (TLS), so SDES keys may cross it (RFC 4568 §7.1).
    pub(crate) secure_signalling: bool,
    /// DTLS datagrams that reached its media port before the answer made its stream.
    pub(crate) early_dtls: Vec<(std::net::SocketAddr, Vec<u8>)>,
    /// ICE on its media socket until the answer makes its stream (which then runs it).
    pub(crate) ice: Option<Box<media::IceStream>>,
    /// The address its INVITE came from (incoming calls), for the per-address flood limit.
    pub(crate) source_ip: Option<std::net::IpAddr>,
    /// Its recording, while it is recorded: paused or not.
    pub(crate) recording: Option<crate::recording::Rec>,
    /// The file it was last recorded into.
    pub(crate) recording_file: Option<String>,
}

/// Where a call is, with what it has there.
pub(crate) enum Phase {
    /// We sent the INVITE with our offer; no answer yet.
    Dialing {
        /// Our side of the media, as offered.
        local: LocalMedia,
        /// The peer said 180 Ringing.
        alerting: bool,
        /// Digits asked for before the media was up; sent once it is.
        pending_dtmf: String,
    },
    /// The peer sent a session description in a provisional response (183 Session Progress,
    /// RFC 3960 early media): its audio (an announcement, an IVR prompt) plays before the
    /// answer.
    Early {
        /// The early media, on our offer's address.
        talk: Box<Talk>,
        /// Digits asked for before the answer; sent once it comes.
        pending_dtmf: String,
    },
    /// An INVITE rang in; the agent has not answered.
    Ringing {
        /// The peer's offer, answered when we answer (`None`: we offer in the 200).
        offer: Option<String>,
    },
    /// Talking.
    Connected(Box<Talk>),
    /// We hold the peer.
    Held(Box<Talk>),
    /// Over: why, and what its media came to.
    Ended {
        /// Why it ended.
        reason: String,
        /// The codec it ended on.
        codec: Option<Codec>,
        /// Its media counters at the end.
        stats: Option<CallStats>,
        /// How its media was protected.
        encryption: Option<String>,
        /// The ICE pair it ended on.
        ice: Option<String>,
    },
}

/// What an answered call has: its media both ways and its audio.
pub(crate) struct Talk {
    /// Our side of the media: the RTP address and our current offer/answer parameters.
    pub(crate) local: LocalMedia,
    /// The media stream (`None` while a late offer waits for its answer).
    pub(crate) media: Option<MediaSession>,
    /// Where its audio goes and comes from.
    pub(crate) audio: Option<Box<dyn AudioPort>>,
    /// The peer has put us on hold (its last offer did not let us send).
    pub(crate) remote_hold: bool,
    /// This tick's captured audio and decoded audio (for the conference mix).
    pub(crate) captured: Vec<i16>,
    pub(crate) decoded: Vec<i16>,
}

impl Talk {
    fn new(local: LocalMedia, media: Option<MediaSession>) -> Self {
        Self {
            local,
            media,
            audio: None,
            remote_hold: false,
            captured: Vec::new(),
            decoded: Vec::new(),
        }
    }
}

impl Call {
    /// A call just placed with our offer (`Dialing`): nothing has happened on it yet.
    pub(crate) fn dialing(
        id: CallId,
        leg: LegId,
        remote: String,
        sip_call_id: String,
        dtmf: crate::config::DtmfMode,
        local: LocalMedia,
    ) -> Self {
        let phase = Phase::Dialing {
            local,
            alerting: false,
            pending_dtmf: String::new(),
        };
        Self::new(
            id,
            leg,
            CallDirection::Outbound,
            remote,
            sip_call_id,
            dtmf,
            phase,
        )
    }

    /// A call just rung in with this offer (`Ringing`).
    pub(crate) fn ringing(
        id: CallId,
        leg: LegId,
        remote: String,
        sip_call_id: String,
        dtmf: crate::config::DtmfMode,
        offer: Option<String>,
    ) -> Self {
        let phase = Phase::Ringing { offer };
        Self::new(
            id,
            leg,
            CallDirection::Inbound,
            remote,
            sip_call_id,
            dtmf,
            phase,
        )
    }

    fn new(
        id: CallId,
        leg: LegId,
        direction: CallDirection,
        remote: String,
        sip_call_id: String,
        dtmf: crate::config::DtmfMode,
        phase: Phase,
    ) -> Self {
        Self {
            id,
            leg,
            direction,
            remote,
            sip_call_id,
            phase,
            dtmf_received: String::new(),
            muted: false,
            interaction: None,
            dtmf,
            transfer: None,
            conference: None,
            consultation_of: None,
            referred_from: None,
            secure_signalling: false,
            early_dtls: Vec::new(),
            ice: None,
            source_ip: None,
            recording: None,
            recording_file: None,
        }
    }

    /// Its state as users see it.
    pub(crate) fn state(&self) -> CallState {
        match &self.phase {
            Phase::Dialing { .. } | Phase::Early { .. } => CallState::Dialing,
            Phase::Ringing { .. } => CallState::Ringing,
            Phase::Connected(_) => CallState::Connected,
            Phase::Held(_) => CallState::Held,
            Phase::Ended { .. } => CallState::Ended,
        }
    }

    /// Answered and not over.
    pub(crate) fn talk(&self) -> Option<&Talk> {
        match &self.phase {
            Phase::Connected(talk) | Phase::Held(talk) => Some(talk),
            _ => None,
        }
    }

    pub(crate) fn talk_mut(&mut self) -> Option<&mut Talk> {
        match &mut self.phase {
            Phase::Connected(talk) | Phase::Held(talk) => Some(talk),
            _ => None,
        }
    }

    /// Its media and audio while they flow: answered, or early media before the answer.
    pub(crate) fn live(&self) -> Option<&Talk> {
        match &self.phase {
            Phase::Early { talk, .. } => Some(talk),
            _ => self.talk(),
        }
    }

    pub(crate) fn live_mut(&mut self) -> Option<&mut Talk> {
        match &mut self.phase {
            Phase::Early { talk, .. } | Phase::Connected(talk) | Phase::Held(talk) => Some(talk),
            _ => None,
        }
    }

    /// Its media stream, once answered (or early).
    pub(crate) fn media(&self) -> Option<&MediaSession> {
        self.live().and_then(|t| t.media.as_ref())
    }

    pub(crate) fn media_mut(&mut self) -> Option<&mut MediaSession> {
        self.live_mut().and_then(|t| t.media.as_mut())
    }

    /// Our side of the media, from our offer (or answer) on.
    pub(crate) fn local(&self) -> Option<&LocalMedia> {
        match &self.phase {
            Phase::Dialing { local, .. } => Some(local),
            Phase::Connected(talk) | Phase::Held(talk) | Phase::Early { talk, .. } => {
                Some(&talk.local)
            }
            _ => None,
        }
    }

    pub(crate) fn local_mut(&mut self) -> Option<&mut LocalMedia> {
        match &mut self.phase {
            Phase::Dialing { local, .. } => Some(local),
            Phase::Connected(talk) | Phase::Held(talk) | Phase::Early { talk, .. } => {
                Some(&mut talk.local)
            }
            _ => None,
        }
    }

    /// We answered: talking on `local`, with `media` unless a late offer still waits.
    pub(crate) fn connect(&mut self, local: LocalMedia, media: Option<MediaSession>) {
        self.phase = Phase::Connected(Box::new(Talk::new(local, media)));
    }

    /// The peer answered the call we placed: talking on our offer's address with `media`.
    /// Digits asked for while dialing come back, to send now; `None` when the call was not
    /// being placed.
    pub(crate) fn answered(&mut self, media: MediaSession) -> Option<String> {
        let mut pending = None;
        self.leave_dialing(|local, digits| {
            pending = Some(digits);
            Phase::Connected(Box::new(Talk::new(local, Some(media))))
        });
        pending
    }

    /// Early media began on the call we placed: its audio plays from now on.
    pub(crate) fn early(&mut self, media: MediaSession) -> bool {
        self.leave_dialing(|local, pending_dtmf| Phase::Early {
            talk: Box::new(Talk::new(local, Some(media))),
            pending_dtmf,
        })
    }

    /// Moves a call being placed on to what `next` makes of its offer and the digits asked
    /// for meanwhile; `false`, and nothing changed, in any other phase.
    fn leave_dialing(&mut self, next: impl FnOnce(LocalMedia, String) -> Phase) -> bool {
        let placeholder = Phase::Ringing { offer: None };
        match std::mem::replace(&mut self.phase, placeholder) {
            Phase::Dialing {
                local,
                pending_dtmf,
                ..
            } => {
                self.phase = next(local, pending_dtmf);
                true
            }
            other => {
                self.phase = other;
                false
            }
        }
    }

    /// The call with early media was answered: the same media and audio go on, talking.
    /// The digits asked for meanwhile come back, to send now.
    pub(crate) fn answered_after_early(&mut self) -> Option<String> {
        let placeholder = Phase::Ringing { offer: None };
        match std::mem::replace(&mut self.phase, placeholder) {
            Phase::Early { talk, pending_dtmf } => {
                self.phase = Phase::Connected(talk);
                Some(pending_dtmf)
            }
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Holding, or talking again, as the peer agreed.
    pub(crate) fn set_held(&mut self, held: bool) {
        let placeholder = Phase::Ringing { offer: None };
        self.phase = match std::mem::replace(&mut self.phase, placeholder) {
            Phase::Connected(talk) | Phase::Held(talk) => {
                if held {
                    Phase::Held(talk)
                } else {
                    Phase::Connected(talk)
                }
            }
            other => other,
        };
    }

    /// Over, for this reason; what it had is handed back to be let go of.
    pub(crate) fn end(&mut self, reason: String) -> Phase {
        let (codec, stats) = (self.media().map(MediaSession::codec), self.stats());
        let (encryption, ice) = (self.encryption(), self.ice());
        std::mem::replace(
            &mut self.phase,
            Phase::Ended {
                reason,
                codec,
                stats,
                encryption,
                ice,
            },
        )
    }

    fn stats(&self) -> Option<CallStats> {
        if let Phase::Ended { stats, .. } = &self.phase {
            return *stats;
        }
        self.media().map(|m| {
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
                srtp_auth_failures: s.srtp_auth_failures,
            }
        })
    }

    /// How its media is protected, once it flows: `sdes-srtp SUITE`, `dtls-srtp SUITE`,
    /// `dtls-srtp (handshaking)` until DTLS has keyed it, or `none`.
    fn encryption(&self) -> Option<String> {
        if let Phase::Ended { encryption, .. } = &self.phase {
            return encryption.clone();
        }
        self.media().map(|m| {
            let keying = if m.keyed_by_dtls() { "dtls" } else { "sdes" };
            match m.encryption() {
                Some(suite) => format!("{keying}-srtp {suite}"),
                None if m.encryption_failed() => "none (DTLS failed)".to_owned(),
                None if m.keyed_by_dtls() => "dtls-srtp (handshaking)".to_owned(),
                None => "none".to_owned(),
            }
        })
    }

    /// Which ICE pair carries its media, when it uses ICE.
    fn ice(&self) -> Option<String> {
        if let Phase::Ended { ice, .. } = &self.phase {
            return ice.clone();
        }
        if let Some(media) = self.media().filter(|m| m.uses_ice()) {
            return Some(match (media.ice_failure(), media.ice_pair()) {
                (Some(why), _) => format!("failed: {why}"),
                (None, Some(pair)) => pair.to_string(),
                (None, None) => "checking".to_owned(),
            });
        }
        self.ice.as_ref().map(|_| "gathered".to_owned())
    }

    pub(crate) fn view(&self) -> CallView {
        let (codec, end_reason) = match &self.phase {
            Phase::Ended { reason, codec, .. } => (*codec, Some(reason.clone())),
            _ => (self.media().map(MediaSession::codec), None),
        };
        let early_media = matches!(self.phase, Phase::Early { .. });
        CallView {
            id: self.id,
            state: self.state(),
            direction: self.direction,
            remote: self.remote.clone(),
            interaction_id: self.interaction,
            codec: codec.map(|c| c.to_string()),
            muted: self.muted,
            stats: self.stats().unwrap_or_default(),
            sip_call_id: self.sip_call_id.clone(),
            end_reason,
            dtmf_received: self.dtmf_received.clone(),
            transfer: self.transfer.as_ref().map(|t| t.status.to_string()),
            conference: self.conference,
            consultation_of: self.consultation_of,
            early_media,
            encryption: self.encryption(),
            ice: self.ice(),
            recording: self
                .recording
                .as_ref()
                .map(|r| if r.paused { "paused" } else { "recording" }.to_owned()),
            recording_file: self.recording_file.clone(),
        }
    }

    pub(crate) fn state_name(&self) -> String {
        format!("{:?}", self.state()).to_ascii_lowercase()
    }
}
