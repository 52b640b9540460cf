//! The engine's timers: one table (the sip crate's [`sip::TimerTable`]) keyed by what each
//! timer is for, so the phone's next deadline is always its earliest entry.

use api::{CallId, InteractionId};

/// What an engine timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerId {
    /// The 20 ms media clock: capture, mix, send, play out.
    MediaTick,
    /// Answer a ringing call by itself (`--auto-answer`, or an auto-answer header).
    AutoAnswer(CallId),
    /// Refuse a call still ringing when its preview timeout passes.
    RingTimeout(CallId),
    /// End a call that rang unanswered and uncancelled for `Limits::ring_timeout` (Timer C).
    NoAnswer(CallId),
    /// Raise a rescheduled callback again.
    Raise(InteractionId),
    /// Give up a transfer that got no outcome at all.
    TransferGiveUp(CallId),
    /// A blind transfer accepted by the peer and not refused within the grace: release the
    /// agent's leg (instant transfer).
    TransferGrace(CallId),
    /// End a call replaced by an attended transfer if the target has not.
    ReplacedCleanup(CallId),
    /// A busy, reorder or test tone stops.
    ProgressTone,
    /// With many calls up, the tones are worked out once a frame (see `Phone::update_tones`).
    Tones,
    /// The ICE pool's gatherers want time (retransmissions, refreshes).
    IcePool,
}

/// The table the phone keeps.
pub(crate) type Timers = sip::TimerTable<TimerId>;
