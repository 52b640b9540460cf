//! The 20 ms media tick over every live call: capture and play out each call's audio, mix the
//! local conference (N-1, each member at its own rate), then encode and send.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use api::{CallId, CallState};
use media::{MediaSession, MediaTransmit};

use crate::call::Call;
use crate::phone::Output;
use crate::recording::RecordingOutput;

/// What the tick keeps between frames: the resamplers carrying one conference member's audio
/// to another's rate, and a buffer for that audio.
#[derive(Default)]
pub(crate) struct Mixer {
    /// A conference member's audio carried to another's rate.
    playback: Vec<i16>,
    /// Resamplers by (from, to).
    resamplers: HashMap<(CallId, CallId), media::FrameResampler>,
}

impl Mixer {
    /// One frame for every live call with media and audio; datagrams go to `out`, and the
    /// calls whose media then has events to hand over to `noticed`.
    pub(crate) fn tick(
        &mut self,
        calls: &mut BTreeMap<CallId, Call>,
        live: &BTreeSet<CallId>,
        now: Instant,
        out: &mut VecDeque<Output>,
        noticed: &mut Vec<CallId>,
    ) {
        // One pass: each call's audio in and out, and what it sends — except the members of a
        // local conference, who send after the mix, once every member's audio is in.
        let mut members: Vec<(CallId, u64, u32)> = Vec::new();
        for id in live {
            let Some(call) = calls.get_mut(id) else {
                continue;
            };
            let held = call.state() == CallState::Held;
            let connected = call.state() == CallState::Connected;
            let (id, muted, conference) = (call.id, call.muted, call.conference);
            let recording = call.recording.as_ref().map(|r| r.paused);
            let Some(talk) = call.live_mut() else {
                continue;
            };
            let Some(media) = talk.media.as_mut() else {
                continue;
            };
            let Some(audio) = talk.audio.as_mut() else {
                // Its audio waits for the DTLS keys; the handshake goes on meanwhile.
                media.drive(now);
                drain_media(media, talk.local.addr, out);
                if media.has_events() {
                    noticed.push(id);
                }
                continue;
            };
            let frame = media.frame_samples();
            talk.captured.resize(frame, 0);
            talk.decoded.resize(frame, 0);
            audio.capture(&mut talk.captured);
            if held {
                // Whoever we hold hears silence, not the agent.
                talk.captured.fill(0);
            }
            media.receive(now, &mut talk.decoded);
            audio.playback(&talk.decoded);
            if let Some(paused) = recording {
                // Paused: silence on both channels, so the file keeps the call's time.
                let silent = || vec![0; frame];
                out.push_back(Output::Recording(RecordingOutput::Frame {
                    call: id,
                    rate: media.codec().sample_rate(),
                    agent: if paused || muted {
                        silent()
                    } else {
                        talk.captured.clone()
                    },
                    customer: if paused {
                        silent()
                    } else {
                        talk.decoded.clone()
                    },
                }));
            }
            if let (Some(group), true) = (conference, connected) {
                members.push((id, group, media.codec().sample_rate()));
                continue;
            }
            media.send(now, &talk.captured);
            drain_media(media, talk.local.addr, out);
            if media.has_events() {
                noticed.push(id);
            }
        }
        self.mix_conferences(calls, &members);
        for (id, ..) in members {
            let Some(talk) = calls.get_mut(&id).and_then(Call::live_mut) else {
                continue;
            };
            if let Some(media) = talk.media.as_mut() {
                media.send(now, &talk.captured);
                drain_media(media, talk.local.addr, out);
                if media.has_events() {
                    noticed.push(id);
                }
            }
        }
    }

    /// The local conference, N-1: every member also sends what the other members said (the
    /// agent's own audio is already in what it captured), at its own rate.
    /// `members`: (call, conference, audio rate) of the connected calls with audio in a
    /// conference.
    fn mix_conferences(
        &mut self,
        calls: &mut BTreeMap<CallId, Call>,
        members: &[(CallId, u64, u32)],
    ) {
        if members.len() < 2 {
            self.resamplers.clear();
            return;
        }
        for &(id, group, rate) in members {
            for &(other, other_group, other_rate) in members {
                if other == id || other_group != group {
                    continue;
                }
                let Some(heard) = calls
                    .get(&other)
                    .and_then(Call::talk)
                    .map(|t| t.decoded.clone())
                else {
                    continue;
                };
                self.playback.resize(rate as usize / 50, 0);
                self.resamplers
                    .entry((other, id))
                    .or_insert_with(|| media::FrameResampler::new(other_rate, rate))
                    .process(&heard, &mut self.playback);
                if let Some(talk) = calls.get_mut(&id).and_then(Call::talk_mut) {
                    media::mix_into(&mut talk.captured, &self.playback);
                }
            }
        }
        self.resamplers.retain(|(a, b), _| {
            members.iter().any(|m| m.0 == *a) && members.iter().any(|m| m.0 == *b)
        });
    }
}

/// Queues a media stream's datagrams: RTP (and multiplexed RTCP) from its RTP socket, RTCP
/// from the socket on the next port.
pub(crate) fn drain_media(media: &mut MediaSession, rtp: SocketAddr, out: &mut VecDeque<Output>) {
    while let Some(MediaTransmit {
        to,
        bytes,
        rtcp_port,
    }) = media.poll_transmit()
    {
        let local = if rtcp_port {
            SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
        } else {
            rtp
        };
        out.push_back(Output::Rtp { local, to, bytes });
    }
}
