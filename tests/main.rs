//! End-to-end tests: the `recall` binary against real peers (SIPp, baresip, Kamailio) on
//! loopback, started and stopped by PID, and driven over its control API.

mod call_control;
mod callback_forms;
mod cli;
mod control_api;
mod devices;
mod dialog_features;
mod dns;
mod dtls_srtp;
mod dtmf;
mod flood;
mod g722;
mod headset;
mod ice;
mod ice_nat;
mod instant_transfer;
mod interactions;
mod ipv6;
mod kamailio_baresip;
mod ldap;
mod malformed;
mod mwi;
mod packaging;
mod presence;
mod recording;
mod settings;
mod sipp;
mod srtp;
mod stun;
mod support;
mod team;
mod three_phones;
mod tls;
mod tray;
mod webhook;
