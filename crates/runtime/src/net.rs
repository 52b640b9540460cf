//! Sockets: each receiving task forwards what it reads to the run loop over one channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip::{Dest, StreamFramer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// What the sockets tell the run loop.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// A SIP datagram.
    SipDatagram { source: Dest, bytes: Bytes },
    /// A SIP message framed from a TCP stream.
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
    /// A TCP connection closed.
    TcpClosed { peer: SocketAddr },
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

/// Reads an RTP socket forever.
pub(crate) fn spawn_rtp(socket: Arc<UdpSocket>, local: SocketAddr, tx: NetTx) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let event = NetEvent::Rtp {
                        local,
                        from,
                        bytes: Bytes::copy_from_slice(&buf[..n]),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                Err(e) => debug!(error = %e, "rtp receive error"),
            }
        }
    });
}

/// TCP connections by peer: a queue of bytes to write on each.
#[derive(Debug, Default)]
pub(crate) struct TcpPool {
    writers: HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>>,
}

impl TcpPool {
    /// Sends on the connection to `peer`, connecting first if there is none.
    pub(crate) fn send(&mut self, peer: SocketAddr, bytes: Bytes, tx: &NetTx) {
        if let Some(writer) = self.writers.get(&peer)
            && writer.send(bytes.clone()).is_ok()
        {
            return;
        }
        let (writer, queue) = mpsc::unbounded_channel();
        let _ = writer.send(bytes);
        self.writers.insert(peer, writer);
        let tx = tx.clone();
        tokio::spawn(async move {
            match TcpStream::connect(peer).await {
                Ok(stream) => run_connection(stream, peer, queue, tx).await,
                Err(e) => {
                    warn!(%peer, error = %e, "tcp connect failed");
                    let _ = tx.send(NetEvent::TcpClosed { peer });
                }
            }
        });
    }

    /// Adopts an accepted connection.
    pub(crate) fn adopt(&mut self, peer: SocketAddr, writer: mpsc::UnboundedSender<Bytes>) {
        self.writers.insert(peer, writer);
    }

    /// Forgets a closed connection.
    pub(crate) fn closed(&mut self, peer: SocketAddr) {
        self.writers.remove(&peer);
    }
}

/// Accepts TCP connections forever; each is announced with its writer.
pub(crate) fn spawn_tcp_listener(
    listener: TcpListener,
    tx: NetTx,
    adopt: mpsc::UnboundedSender<(SocketAddr, mpsc::UnboundedSender<Bytes>)>,
) {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let (writer, queue) = mpsc::unbounded_channel();
                    if adopt.send((peer, writer)).is_err() {
                        return;
                    }
                    tokio::spawn(run_connection(stream, peer, queue, tx.clone()));
                }
                Err(e) => warn!(error = %e, "tcp accept failed"),
            }
        }
    });
}

async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    tx: NetTx,
) {
    let (mut reader, mut writer) = stream.into_split();
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match framer.push(&buf[..n]) {
            Ok(messages) => {
                for message in messages {
                    let event = NetEvent::SipMessage {
                        source: Dest {
                            transport: Transport::Tcp,
                            addr: peer,
                        },
                        message: Box::new(message),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                // RFC 3261 §18.3: a stream that cannot be framed must be closed.
                warn!(%peer, error = %e, "closing a TCP connection that cannot be framed");
                break;
            }
        }
    }
    write_task.abort();
    let _ = tx.send(NetEvent::TcpClosed { peer });
}
