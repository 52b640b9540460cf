//! TURN over TCP and TLS (RFC 8656 §3.1, RFC 7065 `turns:`): for firewalls that let no UDP
//! out. Each media socket that speaks to the TURN server gets its own connection (an
//! allocation belongs to one client 5-tuple); what the engine sends "to the TURN server" from
//! that socket goes down the connection, and each STUN message or ChannelData read from it
//! comes back as if it had arrived on the socket from the server. The engine's ICE neither
//! knows nor cares which way the server was reached.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use media::{TurnServer, TurnTransport, turn_frame_len};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::net::{NetEvent, NetTx};
use crate::tls::Tls;

/// How long connecting (and the TLS handshake) may take: gathering gives up at 5 s anyway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Datagrams waiting for one connection's writes (about 2.5 s of a call's media).
const QUEUE: usize = 128;
/// Largest message read from the server (a STUN message or ChannelData is at most 64 KiB).
const MAX_MESSAGE: usize = 4 + 65_536;

/// The connections to the TURN server, by the media socket they stand in for.
#[derive(Debug, Default)]
pub(crate) struct TurnStreams {
    writers: HashMap<SocketAddr, (SocketAddr, mpsc::Sender<Bytes>)>,
}

impl TurnStreams {
    /// Sends `bytes` from media socket `local` to `server` over its connection, connecting
    /// first when there is none (or the last one closed: the server then has forgotten the
    /// allocation, and the ICE agent's requests make a new one).
    pub(crate) fn send(
        &mut self,
        local: SocketAddr,
        server: &TurnServer,
        bytes: Vec<u8>,
        tx: &NetTx,
        tls: &mut Tls,
    ) {
        let bytes = Bytes::from(bytes);
        tracing::trace!(%local, server = %server.addr, len = bytes.len(), "to the TURN server");
        if let Some((to, writer)) = self.writers.get(&local)
            && *to == server.addr
        {
            match writer.try_send(bytes.clone()) {
                Ok(()) => return,
                // A connection that cannot keep up loses datagrams, as UDP would: media is
                // live, and nothing is buffered without bound.
                Err(mpsc::error::TrySendError::Full(_)) => {
                    debug!(server = %server.addr, %local, "TURN stream backed up; datagram dropped");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        let secure = match server.transport {
            TurnTransport::Tls => match tls.connector(server.addr) {
                Ok(connector) => Some(connector),
                Err(e) => {
                    warn!(server = %server.addr, error = %e, "cannot reach the TURN server over TLS");
                    return;
                }
            },
            TurnTransport::Tcp => None,
            TurnTransport::Udp => return,
        };
        let (writer, queue) = mpsc::channel(QUEUE);
        let _ = writer.try_send(bytes);
        self.writers.insert(local, (server.addr, writer));
        let (addr, tx) = (server.addr, tx.clone());
        tokio::spawn(async move {
            let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    warn!(server = %addr, error = %e, "cannot connect to the TURN server");
                    return;
                }
                Err(_) => {
                    warn!(server = %addr, "the TURN server did not accept the connection in time");
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let Some((connector, name)) = secure else {
                info!(server = %addr, %local, "TURN over TCP");
                carry(stream, local, addr, queue, tx).await;
                return;
            };
            match timeout(CONNECT_TIMEOUT, connector.connect(name, stream)).await {
                Ok(Ok(stream)) => {
                    info!(server = %addr, %local, "TURN over TLS");
                    carry(stream, local, addr, queue, tx).await;
                }
                Ok(Err(e)) => {
                    warn!(server = %addr, error = %e, "TLS with the TURN server failed");
                }
                Err(_) => warn!(server = %addr, "no TLS handshake with the TURN server in time"),
            }
        });
    }
}

/// Writes what is queued and reads the server's messages until the connection (or the queue)
/// ends.
async fn carry<S>(
    stream: S,
    local: SocketAddr,
    server: SocketAddr,
    mut queue: mpsc::Receiver<Bytes>,
    tx: NetTx,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let writing = async {
        while let Some(bytes) = queue.recv().await {
            if let Err(e) = writer.write_all(&bytes).await {
                debug!(%server, error = %e, "TURN stream write failed");
                break;
            }
        }
        let _ = writer.shutdown().await;
    };
    let reading = async {
        let mut buffer = BytesMut::with_capacity(4096);
        loop {
            // Hand on every whole message the buffer holds.
            loop {
                match turn_frame_len(&buffer) {
                    Ok(Some(len)) if len > MAX_MESSAGE => return,
                    Ok(Some(len)) if buffer.len() >= len => {
                        let message = buffer.split_to(len).freeze();
                        let event = NetEvent::Rtp {
                            local,
                            from: server,
                            bytes: message,
                        };
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Ok(_) => break,
                    Err(e) => {
                        warn!(%server, error = %e, "TURN stream out of step; closed");
                        return;
                    }
                }
            }
            match reader.read_buf(&mut buffer).await {
                Ok(0) | Err(_) => {
                    debug!(%server, %local, "TURN stream closed");
                    return;
                }
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = writing => {}
        () = reading => {}
    }
}
