//! ICE on the calls' media sockets: a small pool of spare sockets gathers its candidates
//! (STUN, TURN) before any call needs them — as WebRTC's candidate pool does — so a call is
//! offered or answered at once with host, server-reflexive and relayed candidates; the call's
//! stream then runs the checks (media crate's `IceStream`).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use api::CallId;
use media::{Gatherer, IceStream};
use tracing::{debug, info, warn};

use crate::call::Call;
use crate::calls::{Calls, Cx};
use crate::mixer::drain_media;
use crate::phone::Output;
use crate::timers::TimerId;

/// Spare sockets kept gathered (the next calls' ones).
const POOL: usize = 2;

impl Calls {
    /// A bound RTP socket's address for a future call.
    pub(crate) fn add_media_port(&mut self, cx: &mut Cx<'_>, addr: SocketAddr) {
        if let Some(id) = self.moving.pop_front() {
            self.move_call(cx, id, addr);
            return;
        }
        self.free_ports.push(addr);
        self.refill_ice_pool(cx);
    }

    /// A call's socket back among the spare ones — unless its address has left the host (a
    /// call placed before the media moved, ended since): the driver has closed it.
    pub(crate) fn give_back_port(&mut self, port: SocketAddr) {
        if self.media_ip.is_none_or(|ip| ip == port.ip()) {
            self.free_ports.push(port);
        }
    }

    /// The address the calls' media sockets were bound to has left the host (a laptop moved
    /// from one network to another): the spare sockets on it are let go, and every call whose
    /// socket was on it moves to a socket on `ip` as soon as one is handed in.
    fn media_moved(&mut self, cx: &mut Cx<'_>, ip: IpAddr) {
        self.media_ip = Some(ip);
        let stale: Vec<SocketAddr> = self
            .free_ports
            .iter()
            .copied()
            .filter(|p| p.ip() != ip)
            .collect();
        self.free_ports.retain(|p| p.ip() == ip);
        for port in stale {
            if let Some(mut gatherer) = self.ice_pool.remove(&port) {
                gatherer.release(cx.now);
            }
        }
        for id in self.live_ids() {
            let gone = self
                .calls
                .get(&id)
                .and_then(Call::talk)
                .is_some_and(|talk| talk.local.addr.ip() != ip);
            if gone && !self.moving.contains(&id) {
                self.moving.push_back(id);
            }
        }
        info!(%ip, calls = self.moving.len(), "the media address left the host: calls move to {ip}");
        while !self.moving.is_empty() {
            let Some(at) = self.free_ports.iter().position(|p| p.ip() == ip) else {
                break;
            };
            let port = self.free_ports.remove(at);
            self.ice_pool.remove(&port);
            if let Some(id) = self.moving.pop_front() {
                self.move_call(cx, id, port);
            }
        }
    }

    /// Moves a call's media to the socket at `port`: an ICE call restarts ICE there (its
    /// re-offer follows once the socket has gathered), any other re-offers its new address.
    fn move_call(&mut self, cx: &mut Cx<'_>, id: CallId, port: SocketAddr) {
        let servers = self.media.ice.clone();
        let Some(talk) = self.calls.get_mut(&id).and_then(Call::talk_mut) else {
            // Ended, or not answered yet, meanwhile.
            self.free_ports.push(port);
            return;
        };
        let old = std::mem::replace(&mut talk.local.addr, port);
        info!(call = %id, from = %old, to = %port, "moving the call's media");
        let restarted = match (talk.media.as_mut(), servers) {
            (Some(media), Some(servers)) if media.ice_description().is_some() => {
                let started = media.restart_ice_on(cx.now, &servers, port);
                drain_media(media, port, cx.out);
                started
            }
            _ => false,
        };
        self.by_media.remove(&old);
        self.by_media.insert(port, id);
        if restarted {
            self.media_events(cx, id);
        } else if let Err(e) = self.reoffer(cx, id, |_, _| {}) {
            warn!(call = %id, error = %e, "cannot re-offer the call's new media address");
        }
        self.emit_call(cx, id);
    }

    /// A spare RTP socket for a call, with ICE over it when ICE is on (its candidates gathered
    /// beforehand when the pool had it ready; else only what it has by now).
    pub(crate) fn take_port(&mut self, cx: &mut Cx<'_>) -> Option<(SocketAddr, Option<IceStream>)> {
        // A socket whose candidates are gathered first, else the latest spare one.
        let gathered = self
            .free_ports
            .iter()
            .position(|p| self.ice_pool.get(p).is_some_and(Gatherer::done));
        let port = match gathered {
            Some(index) => self.free_ports.remove(index),
            None => self.free_ports.pop()?,
        };
        let ice = self.media.ice.clone().and_then(|servers| {
            let gatherer = match self.ice_pool.remove(&port) {
                Some(gatherer) => gatherer,
                None => Gatherer::new(cx.now, port, &servers).ok()?,
            };
            if !gatherer.done() {
                warn!(%port, "a call takes a socket whose ICE candidates are still being gathered");
            }
            match IceStream::new(cx.now, gatherer) {
                Ok(ice) => Some(ice),
                Err(e) => {
                    warn!(%port, error = %e, "no ICE on this call");
                    None
                }
            }
        });
        self.refill_ice_pool(cx);
        Some((port, ice))
    }

    /// Gathers on the first spare sockets (ports handed back by ended calls go to the end, so
    /// the pool's sockets stay put until a call takes one).
    pub(crate) fn refill_ice_pool(&mut self, cx: &mut Cx<'_>) {
        let Some(servers) = self.media.ice.clone() else {
            return;
        };
        if servers.stun.is_none() && servers.turn.is_none() {
            return;
        }
        let next: Vec<SocketAddr> = self.free_ports.iter().take(POOL).copied().collect();
        for port in next {
            if self.ice_pool.contains_key(&port) {
                continue;
            }
            match Gatherer::new(cx.now, port, &servers) {
                Ok(gatherer) => {
                    debug!(%port, "gathering ICE candidates");
                    self.ice_pool.insert(port, gatherer);
                }
                Err(e) => warn!(%port, error = %e, "cannot gather ICE candidates"),
            }
        }
        self.pump_ice_pool(cx);
    }

    /// Lets go of the pool's gatherers (their TURN allocations released) and gathers afresh
    /// from the servers now configured.
    pub(crate) fn restart_ice_pool(&mut self, cx: &mut Cx<'_>) {
        for (port, mut gatherer) in std::mem::take(&mut self.ice_pool) {
            gatherer.release(cx.now);
            while let Some((to, bytes)) = gatherer.poll_transmit() {
                cx.out.push_back(Output::Rtp {
                    local: port,
                    to,
                    bytes,
                });
            }
        }
        self.refill_ice_pool(cx);
    }

    /// A datagram on a spare socket (a STUN or TURN server's answer); `false` when the socket
    /// is not gathering.
    pub(crate) fn on_pool_datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        let Some(gatherer) = self.ice_pool.get_mut(&local) else {
            return false;
        };
        let was_done = gatherer.done();
        // Nothing is relayed to a socket no call uses yet.
        let mut relayed = VecDeque::new();
        gatherer.handle(cx.now, from, bytes, &mut relayed);
        log_gathered(gatherer, was_done);
        self.pump_ice_pool(cx);
        true
    }

    /// The pool's timer: retransmissions, refreshes, re-bindings.
    pub(crate) fn ice_pool_timeout(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now;
        for gatherer in self.ice_pool.values_mut() {
            if gatherer.poll_timeout().is_some_and(|at| at <= now) {
                let was_done = gatherer.done();
                gatherer.handle_timeout(now, &mut VecDeque::new());
                log_gathered(gatherer, was_done);
            }
        }
        self.pump_ice_pool(cx);
    }

    /// Sends what the pool's gatherers want sent and sets the pool's timer.
    fn pump_ice_pool(&mut self, cx: &mut Cx<'_>) {
        let mut next: Option<Instant> = None;
        for gatherer in self.ice_pool.values_mut() {
            let local = gatherer.local();
            while let Some((to, bytes)) = gatherer.poll_transmit() {
                cx.out.push_back(Output::Rtp { local, to, bytes });
            }
            if let Some(at) = gatherer.poll_timeout() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        match next {
            Some(at) => cx.timers.set(TimerId::IcePool, at.max(cx.now)),
            None => cx.timers.clear(TimerId::IcePool),
        }
    }

    /// The network changed (the driver saw the host's addresses change): every call running
    /// ICE restarts it (RFC 8445 §9) and re-offers, and the spare sockets gather anew.
    pub(crate) fn network_changed(&mut self, cx: &mut Cx<'_>, media_ip: Option<IpAddr>) {
        if let Some(ip) = media_ip {
            self.media_moved(cx, ip);
        }
        if self.media.ice.is_none() {
            return;
        }
        info!("the network changed: ICE restarts on the calls, the spare sockets gather anew");
        self.restart_ice_pool(cx);
        for id in self.live_ids() {
            if !self.moving.contains(&id) {
                self.restart_call_ice(cx, id);
            }
        }
    }

    /// Restarts ICE on one call's stream; its re-offer follows once the socket has gathered
    /// anew (`MediaEvent::IceRestarted`).
    pub(crate) fn restart_call_ice(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let Some(servers) = self.media.ice.clone() else {
            return;
        };
        let Some(talk) = self.calls.get_mut(&id).and_then(Call::live_mut) else {
            return;
        };
        let Some(media) = talk.media.as_mut() else {
            return;
        };
        if media.restart_ice(cx.now, &servers) {
            drain_media(media, talk.local.addr, cx.out);
            self.media_events(cx, id);
        }
    }

    /// Sends what a dialing call's ICE wants sent (its TURN refreshes).
    pub(crate) fn pump_call_ice(ice: &mut IceStream, out: &mut VecDeque<Output>) {
        let local = ice.socket();
        while let Some((to, bytes)) = ice.poll_transmit() {
            out.push_back(Output::Rtp { local, to, bytes });
        }
    }
}

/// Says what a gatherer found once it has just finished.
fn log_gathered(gatherer: &Gatherer, was_done: bool) {
    if gatherer.done() && !was_done {
        info!(
            port = %gatherer.local(),
            srflx = ?gatherer.srflx(),
            relay = ?gatherer.relay(),
            problems = ?gatherer.problems(),
            "ICE candidates gathered"
        );
    }
}
