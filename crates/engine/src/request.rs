//! What the phone is asked to do from outside the network — by the agent at the desktop, by
//! the control API, or by its driver setting it up — and what it answers. Every such request
//! comes in as [`crate::Input::Command`], beside the network and timer inputs.

use std::net::SocketAddr;

use api::{
    AgentState, AgentStatus, CallView, Command, Interaction, InteractionCommand, InteractionId,
};

use crate::config::{CallbackSettings, MediaSettings};

/// A request to the phone.
#[derive(Debug)]
pub enum Request {
    /// SIP is received on this transport at this address (for `Via` and `Contact`).
    Listen {
        /// The transport.
        transport: sip::Transport,
        /// The bound address.
        addr: SocketAddr,
    },
    /// A bound RTP socket for a future call; its RTCP socket is bound on the next port
    /// (RFC 3550 §11).
    MediaPort(SocketAddr),
    /// Register the accounts that ask for it.
    Start,
    /// Hang up every call and un-register every account.
    Shutdown,
    /// A call command (dial, answer, hold, transfer, …); answered [`Reply::Call`].
    Call(Command),
    /// The agent's action on an interaction; answered [`Reply::Interaction`].
    Interaction {
        /// Which.
        id: InteractionId,
        /// What.
        command: InteractionCommand,
    },
    /// The agent's state per channel (`None` leaves a channel as it is); answered
    /// [`Reply::Agent`].
    Agent {
        /// Voice calls.
        voice: Option<AgentState>,
        /// Web callbacks.
        web_callback: Option<AgentState>,
    },
    /// New settings: media and callback settings apply to calls from now on; an account
    /// whose settings did not change keeps its registration, a changed or new one registers
    /// afresh, and one no longer listed is un-registered — unless a new account has its
    /// address-of-record, whose REGISTER then takes its binding over.
    Reconfigure {
        /// The accounts.
        accounts: Vec<api::Account>,
        /// Media settings.
        media: Box<MediaSettings>,
        /// Callback settings.
        callbacks: CallbackSettings,
    },
    /// REGISTER once as this account (not one of the phone's) and report the outcome as
    /// [`api::Event::RegistrationTest`]; the binding is removed again unless one of the
    /// phone's accounts has the same address-of-record.
    TestRegistration(api::Account),
    /// Play the test tone on the headset for two seconds (refused while a call is up).
    TestTone,
    /// The directory's contacts, matched to incoming interactions by number.
    SetContacts(Vec<interaction::Contact>),
    /// How callbacks are handled from now on.
    SetCallbackSettings(CallbackSettings),
    /// Interactions from the store after a start: ids continue after the highest, what was
    /// live when the process stopped is recovered (missed or ended), and reschedules not
    /// raised before the stop are armed again.
    Restore(Vec<Interaction>),
    /// A team callback this agent claimed from the shared store: raised here as a new
    /// notified interaction from the (other agent's) interaction that was rescheduled to
    /// the queue; answered [`Reply::Interaction`] with the raised one.
    RaiseTeamCallback(Box<Interaction>),
    /// A button pressed on the agent's headset (HID telephony page): answered as the call in
    /// hand needs — answer or reject a ringing call (accepting its interaction when it has
    /// one), hang up, mute, hold, redial.
    Headset(headset::Button),
}

/// The phone's answer to a [`Request`] that was carried out.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Done; nothing to show.
    Done,
    /// The call, as it stands once the user agent has said what came of the command.
    Call(Box<CallView>),
    /// The interaction, as it stands after the action.
    Interaction(Box<Interaction>),
    /// The agent's state per channel.
    Agent(AgentStatus),
}

impl Reply {
    /// The call, for a [`Request::Call`].
    #[must_use]
    pub fn into_call(self) -> Option<CallView> {
        match self {
            Self::Call(view) => Some(*view),
            _ => None,
        }
    }

    /// The interaction, for a [`Request::Interaction`].
    #[must_use]
    pub fn into_interaction(self) -> Option<Interaction> {
        match self {
            Self::Interaction(interaction) => Some(*interaction),
            _ => None,
        }
    }

    /// The agent's state, for a [`Request::Agent`].
    #[must_use]
    pub fn into_agent(self) -> Option<AgentStatus> {
        match self {
            Self::Agent(agent) => Some(agent),
            _ => None,
        }
    }
}
