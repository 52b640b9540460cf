//! Sockets: each receiving task forwards what it reads to the run loop over one channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sip::{Dest, StreamFramer, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::tls::Tls;

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// What the sockets tell the run loop.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// A SIP datagram.
    SipDatagram { source: Dest, bytes: Bytes },
    /// A SIP message framed from a TCP or TLS stream.
    SipMessage {
        source: Dest,
        message: Box<sip::Message>,
    },
    /// A datagram on an RTP socket.
    Rtp {
        local: SocketAddr,
        from: SocketAddr,
        bytes: Bytes,
    },
    /// A TCP or TLS connection closed, or could not be made.
    StreamClosed { dest: Dest, detail: String },
    /// The host's addresses changed (an interface came, went or was renumbered): the ones it
    /// has now, loopback aside.
    NetworkChanged(Vec<std::net::IpAddr>),
    /// A connection a peer opened to us, with the queue that writes on it. It comes on the
    /// same channel as, and before, the messages read from that connection, so an answer to
    /// its first request always finds it.
    Accepted {
        dest: Dest,
        writer: mpsc::UnboundedSender<Bytes>,
    },
}

pub(crate) type NetTx = mpsc::UnboundedSender<NetEvent>;

/// Reads a UDP SIP socket forever.
pub(crate) fn spawn_sip_udp(socket: Arc<UdpSocket>, tx: NetTx) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let event = NetEvent::SipDatagram {
                        source: Dest {
                            transport: Transport::Udp,
                            addr: from,
                        },
                        bytes: Bytes::copy_from_slice(&buf[..n]),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                // ICMP port unreachable surfaces here on Linux; it is not fatal.
                Err(e) => debug!(error = %e, "sip udp receive error"),
            }
        }
    });
}

/// A call's RTP (or RTCP) socket, as its reader task watches it: for reading only. A call
/// sends 50 datagrams a second straight to the kernel, on a duplicate of the descriptor the
/// core keeps (`Core::media`); a datagram the kernel cannot take then is dropped, as the
/// network would drop it. A socket registered for writing too (as tokio's `UdpSocket` is)
/// would come back from epoll as writable after every one of them — the kernel wakes the
/// socket's watchers as each datagram's buffer is freed.
pub(crate) type MediaSocket = tokio::io::unix::AsyncFd<std::net::UdpSocket>;

/// Watches a bound, non-blocking socket for datagrams to read.
pub(crate) fn media_socket(socket: std::net::UdpSocket) -> std::io::Result<MediaSocket> {
    // SAFETY: the AsyncFd owns the std socket, which owns its descriptor: it stays open, and
    // as_raw_fd returns that same one, until the AsyncFd is dropped.
    unsafe { MediaSocket::register_with_interest(socket, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// Reads an RTP socket forever.
pub(crate) fn spawn_rtp(
    socket: MediaSocket,
    local: SocketAddr,
    tx: NetTx,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let mut ready = match socket.readable().await {
                Ok(ready) => ready,
                Err(e) => {
                    warn!(%local, error = %e, "rtp socket cannot be watched");
                    return;
                }
            };
            match ready.try_io(|socket| socket.get_ref().recv_from(&mut buf)) {
                Ok(Ok((n, from))) => {
                    let event = NetEvent::Rtp {
                        local,
                        from,
                        bytes: Bytes::copy_from_slice(&buf[..n]),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                // ICMP port unreachable surfaces here on Linux; it is not fatal.
                Ok(Err(e)) => debug!(error = %e, "rtp receive error"),
                // Nothing after all: readiness was cleared; wait again.
                Err(_would_block) => {}
            }
        }
    })
    .abort_handle()
}

/// How often the host's addresses are looked at.
const ADDRESS_POLL: Duration = Duration::from_secs(2);

/// The host's addresses (loopback aside), sorted.
fn addresses() -> Vec<std::net::IpAddr> {
    let mut found: Vec<std::net::IpAddr> = if_addrs::get_if_addrs()
        .map(|all| {
            all.iter()
                .filter(|i| !i.is_loopback())
                .map(if_addrs::Interface::ip)
                .collect()
        })
        .unwrap_or_default();
    found.sort_unstable();
    found.dedup();
    found
}

/// Looks at the host's addresses every [`ADDRESS_POLL`] and says when they change (a laptop
/// moved from Wi-Fi to a cable, a VPN came up, DHCP gave another address): calls running
/// ICE restart it.
pub(crate) fn spawn_address_watch(tx: NetTx) {
    tokio::spawn(async move {
        let mut known = addresses();
        let mut every = tokio::time::interval(ADDRESS_POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = addresses();
            if now != known {
                tracing::info!(before = ?known, after = ?now, "the host's addresses changed");
                known.clone_from(&now);
                if tx.send(NetEvent::NetworkChanged(now)).is_err() {
                    return;
                }
            }
        }
    });
}

/// How long a TLS handshake may take before the connection is given up (a peer that opens a
/// connection and says nothing must not hold it for ever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Stream connections (TCP and TLS) by peer: a queue of bytes to write on each.
#[derive(Debug, Default)]
pub(crate) struct StreamPool {
    writers: HashMap<Dest, mpsc::UnboundedSender<Bytes>>,
    /// How often connections recall opened are probed (RFC 5626 §4.4.1 CRLF keep-alive);
    /// `None`: never.
    keepalive: Option<Duration>,
}

impl StreamPool {
    /// A pool whose outgoing connections send a keep-alive every `keepalive`.
    pub(crate) fn new(keepalive: Option<Duration>) -> Self {
        Self {
            writers: HashMap::new(),
            keepalive,
        }
    }

    /// Sends on the connection to `dest`, connecting first (and, for TLS, checking the
    /// server's certificate) if there is none.
    pub(crate) fn send(&mut self, dest: Dest, bytes: Bytes, tx: &NetTx, tls: &mut Tls) {
        if let Some(writer) = self.writers.get(&dest)
            && writer.send(bytes.clone()).is_ok()
        {
            return;
        }
        let secure = match dest.transport {
            Transport::Tls => match tls.connector(dest.addr) {
                Ok(connector) => Some(connector),
                Err(e) => {
                    let detail = e.to_string();
                    warn!(%dest, %detail, "cannot connect");
                    let _ = tx.send(NetEvent::StreamClosed { dest, detail });
                    return;
                }
            },
            _ => None,
        };
        let (writer, queue) = mpsc::unbounded_channel();
        let _ = writer.send(bytes);
        self.writers.insert(dest, writer);
        let tx = tx.clone();
        let keepalive = self.keepalive;
        tokio::spawn(async move {
            let stream = match TcpStream::connect(dest.addr).await {
                Ok(stream) => stream,
                Err(e) => {
                    warn!(%dest, error = %e, "connect failed");
                    let detail = format!("cannot connect to {dest}: {e}");
                    let _ = tx.send(NetEvent::StreamClosed { dest, detail });
                    return;
                }
            };
            let Some((connector, name)) = secure else {
                run_connection(stream, dest, queue, tx, keepalive).await;
                return;
            };
            let shown = name.to_str().into_owned();
            match timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream)).await {
                Ok(Ok(stream)) => run_connection(stream, dest, queue, tx, keepalive).await,
                Ok(Err(e)) => {
                    let detail = format!("TLS with {dest} ({shown}) failed: {e}");
                    warn!(%dest, %detail, "tls handshake failed");
                    let _ = tx.send(NetEvent::StreamClosed { dest, detail });
                }
                Err(_) => {
                    let detail =
                        format!("TLS with {dest}: no handshake within {HANDSHAKE_TIMEOUT:?}");
                    warn!(%dest, %detail, "tls handshake failed");
                    let _ = tx.send(NetEvent::StreamClosed { dest, detail });
                }
            }
        });
    }

    /// Adopts an accepted connection.
    pub(crate) fn adopt(&mut self, dest: Dest, writer: mpsc::UnboundedSender<Bytes>) {
        self.writers.insert(dest, writer);
    }

    /// Forgets a closed connection.
    pub(crate) fn closed(&mut self, dest: Dest) {
        self.writers.remove(&dest);
    }
}

/// Accepts TCP connections forever; each is announced with its writer. With an acceptor the
/// connections are TLS: each handshake runs on its own task, so garbage or a peer that never
/// finishes its handshake costs only its own connection.
pub(crate) fn spawn_stream_listener(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    tx: NetTx,
) {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let tx = tx.clone();
            match acceptor.clone() {
                None => {
                    let dest = Dest {
                        transport: Transport::Tcp,
                        addr: peer,
                    };
                    let (writer, queue) = mpsc::unbounded_channel();
                    if tx.send(NetEvent::Accepted { dest, writer }).is_err() {
                        return;
                    }
                    tokio::spawn(run_connection(stream, dest, queue, tx, None));
                }
                Some(acceptor) => {
                    tokio::spawn(async move {
                        let dest = Dest {
                            transport: Transport::Tls,
                            addr: peer,
                        };
                        match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                let (writer, queue) = mpsc::unbounded_channel();
                                if tx.send(NetEvent::Accepted { dest, writer }).is_ok() {
                                    run_connection(stream, dest, queue, tx, None).await;
                                }
                            }
                            Ok(Err(e)) => {
                                warn!(%peer, error = %e, "TLS handshake failed; connection closed");
                            }
                            Err(_) => {
                                warn!(%peer, "no TLS handshake within {HANDSHAKE_TIMEOUT:?}; connection closed");
                            }
                        }
                    });
                }
            }
        }
    });
}

/// How long a keep-alive may wait for its pong (RFC 5626 §4.4.1 says 10 s).
const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads and writes one connection until it closes. With `keepalive` (connections recall
/// opened), a double CRLF goes out after each quiet interval and the flow is given up when
/// nothing at all — a CRLF pong or any message — comes back within [`PONG_TIMEOUT`].
async fn run_connection<S>(
    stream: S,
    dest: Dest,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    tx: NetTx,
    keepalive: Option<Duration>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (ping_tx, mut ping_rx) = mpsc::unbounded_channel::<()>();
    let write_task = tokio::spawn(async move {
        loop {
            let bytes = tokio::select! {
                bytes = queue.recv() => match bytes {
                    Some(bytes) => bytes,
                    None => break,
                },
                Some(()) = ping_rx.recv() => Bytes::from_static(b"\r\n\r\n"),
            };
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
    });
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut awaiting_pong: Option<tokio::time::Instant> = None;
    let detail = loop {
        let wait = match (keepalive, awaiting_pong) {
            (_, Some(sent)) => Some(sent + PONG_TIMEOUT),
            (Some(every), None) => Some(tokio::time::Instant::now() + every),
            (None, None) => None,
        };
        let read = async {
            match wait {
                Some(at) => tokio::time::timeout_at(at, reader.read(&mut buf))
                    .await
                    .ok(),
                None => Some(reader.read(&mut buf).await),
            }
        };
        let n = match read.await {
            None if awaiting_pong.is_some() => {
                warn!(%dest, "no answer to the keep-alive; closing the flow");
                break format!("{dest} did not answer the keep-alive within {PONG_TIMEOUT:?}");
            }
            None => {
                debug!(%dest, "keep-alive");
                awaiting_pong = Some(tokio::time::Instant::now());
                let _ = ping_tx.send(());
                continue;
            }
            Some(Ok(0)) => break format!("{dest} closed the connection"),
            Some(Err(e)) => break format!("connection to {dest} broke: {e}"),
            Some(Ok(n)) => n,
        };
        // Anything heard (the CRLF pong, or a message) shows the flow is alive.
        awaiting_pong = None;
        match framer.push(&buf[..n]) {
            Ok(messages) => {
                for message in messages {
                    let event = NetEvent::SipMessage {
                        source: dest,
                        message: Box::new(message),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                // RFC 3261 §18.3: a stream that cannot be framed must be closed.
                warn!(%dest, error = %e, "closing a connection that cannot be framed");
                break format!("{dest} sent what cannot be framed: {e}");
            }
        }
    };
    write_task.abort();
    let _ = tx.send(NetEvent::StreamClosed { dest, detail });
}
