//! Engine tests in virtual time: two or more phones (sans-IO engines) on a simulated network,
//! driven by the harness; one test binary (one link) for all of them.

#![allow(clippy::disallowed_methods)]

mod calls;
mod dns;
mod encryption;
mod harness;
mod headset_buttons;
mod ice;
mod interactions;
mod limits;
mod recording;
mod scenario;
mod settings;
mod transfer;
