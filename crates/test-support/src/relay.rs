//! A seeded userspace impairment relay for one call, on real UDP sockets (the kernel here has
//! no netem). It stands between a caller and a callee: SIP passes through untouched except
//! that each SDP body is rewritten so both sides send their RTP to the relay; the relay then
//! forwards RTP (and muxed RTCP) each way with the impairments of that direction — fixed
//! delay, uniform jitter (which reorders), independent or bursty (Gilbert–Elliott) loss and
//! duplication. Same seed, same fate for every packet.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What one direction of the media path suffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Long-run share of packets lost, 0–1.
    pub loss: f64,
    /// Mean length of a loss burst in packets (1: independent losses).
    pub burst: f64,
    /// Delay every packet has.
    pub delay: Duration,
    /// Extra delay, uniform in [0, jitter): packets closer than that may swap.
    pub jitter: Duration,
    /// Share of packets delivered twice.
    pub duplicate: f64,
}

impl Impairment {
    /// A perfect path with this delay.
    #[must_use]
    pub fn clean(delay: Duration) -> Self {
        Self {
            loss: 0.0,
            burst: 1.0,
            delay,
            jitter: Duration::ZERO,
            duplicate: 0.0,
        }
    }
}

/// The relay's decisions for one direction: a Gilbert–Elliott loss chain and delays.
#[derive(Debug)]
struct Fate {
    impairment: Impairment,
    rng: fastrand::Rng,
    in_burst: bool,
}

impl Fate {
    fn new(impairment: Impairment, seed: u64) -> Self {
        Self {
            impairment,
            rng: fastrand::Rng::with_seed(seed),
            in_burst: false,
        }
    }

    /// The delays at which copies of the next packet arrive (none: lost).
    fn decide(&mut self) -> Vec<Duration> {
        let i = self.impairment;
        // Two-state chain with mean burst length `burst` and stationary loss `loss`:
        // P(bad→good) = 1/burst, P(good→bad) = loss / (burst × (1 − loss)).
        let leave = 1.0 / i.burst.max(1.0);
        let enter = if i.loss >= 1.0 {
            1.0
        } else {
            (i.loss * leave / (1.0 - i.loss)).min(1.0)
        };
        self.in_burst = if self.in_burst {
            self.rng.f64() >= leave
        } else {
            self.rng.f64() < enter
        };
        if self.in_burst {
            return Vec::new();
        }
        let rng = &mut self.rng;
        let mut copies = vec![i.delay + i.jitter.mul_f64(rng.f64())];
        if rng.f64() < i.duplicate {
            copies.push(i.delay + i.jitter.mul_f64(rng.f64()));
        }
        copies
    }
}

/// Counters of a running relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Media datagrams received from either side.
    pub media_in: AtomicU64,
    /// Media datagrams dropped by the loss model.
    pub media_lost: AtomicU64,
    /// SIP datagrams passed.
    pub sip: AtomicU64,
}

/// The most media datagrams a relay keeps in its capture (about four minutes of one call).
pub const CAPTURE_LIMIT: usize = 25_000;

/// A captured media datagram, as it crossed the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// It came from the caller's side (else the callee's).
    pub from_caller: bool,
    /// Its bytes, as on the wire.
    pub bytes: Vec<u8>,
}

/// A relay for one call between a caller and `callee` (its SIP address).
#[derive(Debug)]
pub struct Relay {
    /// Where callers send SIP (dial `sip:user@this`).
    pub sip: SocketAddr,
    /// Counters.
    pub stats: Arc<RelayStats>,
    /// Every media datagram that reached the relay (the first [`CAPTURE_LIMIT`]): what anyone
    /// on the path could read.
    pub capture: Arc<Mutex<Vec<Captured>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Peers {
    caller_sip: Option<SocketAddr>,
    caller_media: Option<SocketAddr>,
    callee_media: Option<SocketAddr>,
}

struct Scheduled {
    due: Instant,
    order: u64,
    from_caller_side: bool,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

impl Relay {
    /// Starts a relay on `ip` for calls to `callee`; `to_callee` impairs the caller's media on
    /// its way to the callee, `to_caller` the way back.
    pub fn start(
        ip: IpAddr,
        callee: SocketAddr,
        to_callee: Impairment,
        to_caller: Impairment,
        seed: u64,
    ) -> std::io::Result<Self> {
        let sip = UdpSocket::bind((ip, 0))?;
        // Media socket facing the caller, and facing the callee.
        let media_a = UdpSocket::bind((ip, 0))?;
        let media_b = UdpSocket::bind((ip, 0))?;
        for socket in [&sip, &media_a, &media_b] {
            socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        }
        let sip_addr = sip.local_addr()?;
        let (a_addr, b_addr) = (media_a.local_addr()?, media_b.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let capture = Arc::new(Mutex::new(Vec::new()));
        let peers = Arc::new(Mutex::new(Peers::default()));
        let (tx, rx) = mpsc::channel::<Scheduled>();
        let (media_a, media_b) = (Arc::new(media_a), Arc::new(media_b));
        let order = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();

        // SIP: pass through, rewriting SDP so media comes to us.
        {
            let (stop, stats, peers) = (stop.clone(), stats.clone(), peers.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = sip.recv_from(&mut buf) else {
                        continue;
                    };
                    stats.sip.fetch_add(1, Ordering::Relaxed);
                    let mut peers = peers.lock().expect("peers");
                    let from_callee = from == callee;
                    if !from_callee {
                        peers.caller_sip = Some(from);
                    }
                    let (advertise, learned) = if from_callee {
                        (a_addr, &mut peers.callee_media)
                    } else {
                        (b_addr, &mut peers.caller_media)
                    };
                    let bytes = rewrite_sdp(&buf[..n], advertise, learned);
                    let to = if from_callee {
                        peers.caller_sip
                    } else {
                        Some(callee)
                    };
                    if let Some(to) = to {
                        let _ = sip.send_to(&bytes, to);
                    }
                }
            }));
        }

        // Media in, each way: decide its fate and schedule it.
        for (socket, from_caller_side, impairment, salt) in [
            (media_a.clone(), true, to_callee, 1u64),
            (media_b.clone(), false, to_caller, 2u64),
        ] {
            let (stop, stats, peers, tx, order, capture) = (
                stop.clone(),
                stats.clone(),
                peers.clone(),
                tx.clone(),
                order.clone(),
                capture.clone(),
            );
            threads.push(std::thread::spawn(move || {
                let mut fate = Fate::new(impairment, seed.wrapping_mul(31).wrapping_add(salt));
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let now = Instant::now();
                    stats.media_in.fetch_add(1, Ordering::Relaxed);
                    {
                        let mut capture = capture.lock().expect("capture");
                        if capture.len() < CAPTURE_LIMIT {
                            capture.push(Captured {
                                from_caller: from_caller_side,
                                bytes: buf[..n].to_vec(),
                            });
                        }
                    }
                    let to = {
                        let mut peers = peers.lock().expect("peers");
                        // Symmetric RTP: the media really comes from where it comes from.
                        if from_caller_side {
                            peers.caller_media = Some(from);
                            peers.callee_media
                        } else {
                            peers.callee_media = Some(from);
                            peers.caller_media
                        }
                    };
                    let Some(to) = to else { continue };
                    let delays = fate.decide();
                    if delays.is_empty() {
                        stats.media_lost.fetch_add(1, Ordering::Relaxed);
                    }
                    for delay in delays {
                        let _ = tx.send(Scheduled {
                            due: now + delay,
                            order: order.fetch_add(1, Ordering::Relaxed),
                            from_caller_side,
                            to,
                            bytes: buf[..n].to_vec(),
                        });
                    }
                }
            }));
        }
        drop(tx);

        // Out, when due: a caller's packet leaves the socket facing the callee, and back.
        {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                deliver(rx, &media_a, &media_b, &stop);
            }));
        }
        Ok(Self {
            sip: sip_addr,
            stats,
            capture,
            stop,
            threads,
        })
    }
}

fn deliver(rx: Receiver<Scheduled>, media_a: &UdpSocket, media_b: &UdpSocket, stop: &AtomicBool) {
    let mut queue: BinaryHeap<Reverse<Scheduled>> = BinaryHeap::new();
    while !stop.load(Ordering::Relaxed) {
        let wait = queue
            .peek()
            .map_or(Duration::from_millis(50), |Reverse(s)| {
                s.due.saturating_duration_since(Instant::now())
            });
        match rx.recv_timeout(wait) {
            Ok(item) => queue.push(Reverse(item)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while queue.peek().is_some_and(|Reverse(s)| s.due <= now) {
            let Some(Reverse(item)) = queue.pop() else {
                break;
            };
            let socket = if item.from_caller_side {
                media_b
            } else {
                media_a
            };
            let _ = socket.send_to(&item.bytes, item.to);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Points a SIP message's SDP at `advertise` (c= and m=audio), dropping `a=rtcp:` lines so
/// RTCP follows RTP, and notes where the sender said it receives media.
fn rewrite_sdp(message: &[u8], advertise: SocketAddr, learned: &mut Option<SocketAddr>) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return message.to_vec();
    };
    if !body.contains("m=audio") {
        return message.to_vec();
    }
    let mut ip = None;
    let mut port = None;
    let lines: Vec<String> = body
        .split("\r\n")
        .filter_map(|line| {
            if let Some(rest) = line.strip_prefix("c=IN IP4 ") {
                ip = rest.trim().parse::<IpAddr>().ok().or(ip);
                return Some(format!("c=IN IP4 {}", advertise.ip()));
            }
            if let Some(rest) = line.strip_prefix("m=audio ") {
                let (p, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                port = p.parse::<u16>().ok();
                return Some(format!("m=audio {} {tail}", advertise.port()));
            }
            if line.starts_with("a=rtcp:") {
                return None;
            }
            Some(line.to_owned())
        })
        .collect();
    if let (Some(ip), Some(port)) = (ip, port) {
        *learned = Some(SocketAddr::new(ip, port));
    }
    let body = lines.join("\r\n");
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-length:") || lower.starts_with("l:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_owned()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many copies of each of `packets` packets arrive.
    fn fate_decisions(impairment: Impairment, seed: u64, packets: usize) -> Vec<usize> {
        let mut fate = Fate::new(impairment, seed);
        (0..packets).map(|_| fate.decide().len()).collect()
    }

    #[test]
    fn loss_matches_the_rate_and_bursts_have_the_mean_length() {
        for (loss, burst) in [(0.03, 1.0), (0.10, 1.0), (0.10, 3.0)] {
            let impairment = Impairment {
                loss,
                burst,
                ..Impairment::clean(Duration::ZERO)
            };
            let copies = fate_decisions(impairment, 42, 200_000);
            let lost = copies.iter().filter(|&&c| c == 0).count() as f64 / copies.len() as f64;
            assert!((lost - loss).abs() < loss * 0.1, "loss {lost} for {loss}");
            let bursts = copies.windows(2).filter(|w| w[0] != 0 && w[1] == 0).count() as f64;
            let mean = copies.iter().filter(|&&c| c == 0).count() as f64 / bursts;
            assert!(
                (mean - burst).abs() < burst * 0.15 + 0.1,
                "mean burst {mean} for {burst}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fates() {
        let impairment = Impairment {
            loss: 0.1,
            duplicate: 0.05,
            ..Impairment::clean(Duration::ZERO)
        };
        assert_eq!(
            fate_decisions(impairment, 7, 1000),
            fate_decisions(impairment, 7, 1000)
        );
        assert_ne!(
            fate_decisions(impairment, 7, 1000),
            fate_decisions(impairment, 8, 1000)
        );
    }

    #[test]
    fn sdp_is_pointed_at_the_relay() {
        let invite = "INVITE sip:b@x SIP/2.0\r\nContent-Length: 99\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\na=sendrecv\r\n";
        let mut learned = None;
        let out = rewrite_sdp(
            invite.as_bytes(),
            "127.0.0.2:9000".parse().expect("addr"),
            &mut learned,
        );
        let out = String::from_utf8(out).expect("utf8");
        assert!(
            out.contains("c=IN IP4 127.0.0.2\r\nm=audio 9000 RTP/AVP 0\r\na=sendrecv"),
            "{out}"
        );
        assert!(!out.contains("a=rtcp:"));
        let body = out.split_once("\r\n\r\n").expect("body").1;
        assert!(out.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(learned, Some("127.0.0.1:4000".parse().expect("addr")));
    }

    #[test]
    fn media_is_relayed_both_ways_with_the_delay() {
        let callee_sip = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let caller_media = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let callee_media = UdpSocket::bind("127.0.0.1:0").expect("bind");
        for s in [&callee_sip, &caller_media, &callee_media] {
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
        }
        let relay = Relay::start(
            "127.0.0.1".parse().expect("ip"),
            callee_sip.local_addr().expect("addr"),
            Impairment::clean(Duration::from_millis(30)),
            Impairment::clean(Duration::ZERO),
            1,
        )
        .expect("relay");
        let caller_sip = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let offer = format!(
            "INVITE sip:b@x SIP/2.0\r\nContent-Length: 0\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {} RTP/AVP 0\r\n",
            caller_media.local_addr().expect("addr").port()
        );
        caller_sip
            .send_to(offer.as_bytes(), relay.sip)
            .expect("send");
        let mut buf = [0u8; 2048];
        let (n, _) = callee_sip.recv_from(&mut buf).expect("the INVITE");
        let seen = String::from_utf8_lossy(&buf[..n]).into_owned();
        let relay_b: u16 = seen
            .split("m=audio ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("rewritten port");
        let answer = format!(
            "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {} RTP/AVP 0\r\n",
            callee_media.local_addr().expect("addr").port()
        );
        callee_sip
            .send_to(answer.as_bytes(), relay.sip)
            .expect("send");
        let (n, _) = caller_sip.recv_from(&mut buf).expect("the 200");
        let seen = String::from_utf8_lossy(&buf[..n]).into_owned();
        let relay_a: u16 = seen
            .split("m=audio ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("rewritten port");
        let sent = Instant::now();
        caller_media
            .send_to(b"rtp one", ("127.0.0.1", relay_a))
            .expect("send");
        let (n, from) = callee_media.recv_from(&mut buf).expect("relayed");
        assert_eq!(&buf[..n], b"rtp one");
        assert!(sent.elapsed() >= Duration::from_millis(30));
        assert_eq!(from.port(), relay_b, "the callee hears the relay");
        callee_media.send_to(b"rtp two", from).expect("send");
        let (n, _) = caller_media.recv_from(&mut buf).expect("relayed back");
        assert_eq!(&buf[..n], b"rtp two");
        assert_eq!(relay.stats.media_in.load(Ordering::Relaxed), 2);
    }
}
