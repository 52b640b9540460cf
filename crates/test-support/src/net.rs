//! A simulated datagram network in virtual time: seeded loss, jitter and hence reordering.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A datagram arriving.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// When it arrives.
    pub at: Instant,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// A lossy, jittery network. Same seed, same fate for every packet.
#[derive(Debug)]
pub struct SimNet {
    rng: fastrand::Rng,
    /// Probability in 0..=1 that a datagram is lost.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from 0..jitter (reorders packets closer than that).
    pub jitter: Duration,
    /// Loss applies only to datagrams this predicate accepts (e.g. RTP only).
    pub lossy: fn(&[u8]) -> bool,
    in_flight: BTreeMap<(Instant, u64), Delivery>,
    sequence: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams lost.
    pub lost: u64,
}

impl SimNet {
    /// A perfect network with a 1 ms delay.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            loss: 0.0,
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            lossy: |_| true,
            in_flight: BTreeMap::new(),
            sequence: 0,
            sent: 0,
            lost: 0,
        }
    }

    /// Sends a datagram at `now`.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.sent += 1;
        if (self.lossy)(&bytes) && self.rng.f64() < self.loss {
            self.lost += 1;
            return;
        }
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            self.jitter.mul_f64(self.rng.f64())
        };
        let at = now + self.delay + jitter;
        self.sequence += 1;
        self.in_flight.insert(
            (at, self.sequence),
            Delivery {
                at,
                from,
                to,
                bytes,
            },
        );
    }

    /// When the next datagram arrives.
    #[must_use]
    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|(at, _)| *at)
    }

    /// The next datagram due at or before `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Delivery> {
        let (&key, _) = self.in_flight.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.in_flight.remove(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_loses_the_same_packets() {
        let fate = |seed| {
            let mut net = SimNet::new(seed);
            net.loss = 0.3;
            net.jitter = Duration::from_millis(30);
            let t0 = Instant::now();
            let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            for i in 0..100u8 {
                net.send(t0, a, a, vec![i]);
            }
            let mut order = Vec::new();
            while let Some(d) = net.poll(t0 + Duration::from_secs(1)) {
                order.push(d.bytes[0]);
            }
            (net.lost, order)
        };
        assert_eq!(fate(7), fate(7));
        let (lost, order) = fate(7);
        assert!((15..=45).contains(&lost), "lost {lost} of 100 at 30%");
        assert!(order.windows(2).any(|w| w[0] > w[1]), "jitter reorders");
    }
}
