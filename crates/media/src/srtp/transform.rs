//! The SRTP and SRTCP packet transforms of RFC 3711 (AES-CM with HMAC-SHA1) and RFC 7714
//! (AEAD_AES_128_GCM), on the primitives of ring (AES-GCM) and RustCrypto (AES, HMAC-SHA1).
//!
//! What is ours is the packet layout, the index and roll-over counter (RFC 3711 Appendix A),
//! the replay windows and where the state lives: one direction's derived keys and its few
//! streams sit together in one allocation, so a packet touches a handful of neighbouring
//! cache lines — not a map, boxed ciphers and a boxed replay detector apart on the heap,
//! which is what made an SRTP call cost 20–30 % more CPU than a plain one with 200 calls up
//! (ARCHITECTURE.md, "What an SRTP call costs"). Checked by libsrtp's reference packets and
//! against rtc-srtp, packet for packet, in `srtp/tests.rs`.

use aes::Aes128Enc;
use aes::cipher::{BlockEncrypt as _, KeyInit as _};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use subtle::ConstantTimeEq as _;

use super::{MasterKey, SrtpError, Suite};

/// SSRCs a direction keeps an index and a replay window for; a fifth replaces the oldest.
const STREAMS: usize = 4;
/// How many packets back a replayed one is still recognised (RFC 3711 §3.3.2 asks for at
/// least 64; libsrtp uses 128).
const WINDOW: u64 = 128;
/// SRTCP's tag with the AES-CM suites, _32 included (RFC 3711 §5.2).
const CM_RTCP_TAG: usize = 10;
const GCM_TAG: usize = 16;
/// The E flag before the SRTCP index: the packet is encrypted.
const ENCRYPTED: u32 = 0x8000_0000;
/// Key derivation labels (RFC 3711 §4.3.1).
const RTP_KEY: u8 = 0;
const RTP_AUTH: u8 = 1;
const RTP_SALT: u8 = 2;
const RTCP_KEY: u8 = 3;
const RTCP_AUTH: u8 = 4;
const RTCP_SALT: u8 = 5;

/// One direction of one stream: the session keys derived from its master key, the index
/// of each SSRC seen, and the SRTCP index we send. Laid out (`repr(C)`, here and in the
/// keys) so that what an RTP packet touches comes first, in one run of cache lines
/// ([`Direction::hot_len`]).
#[repr(C)]
pub(super) struct Direction {
    rtp: [Stream; STREAMS],
    keys: Keys,
    rtcp: [Stream; STREAMS],
    /// The slot the next new SSRC takes when all are used.
    /// One for RTP's slots and one for SRTCP's: shared, SRTCP arriving from a new SSRC moved
    /// which RTP stream the next new one replaced (a sender and its receiver then disagreed
    /// on a stream's roll-over counter; the fuzzer found it).
    oldest: [usize; 2],
    /// The last SRTCP index sent.
    rtcp_sent: u32,
}

// The variants differ in size (AES-CM's key schedule keeps a software fallback beside
// AES-NI's): boxing the larger one would put back the pointer hop this module removes.
#[allow(clippy::large_enum_variant)]
#[repr(C)]
enum Keys {
    Cm {
        rtp: CmKeys,
        rtcp: CmKeys,
        rtp_tag: usize,
    },
    Gcm {
        rtp: GcmKeys,
        rtcp: GcmKeys,
    },
}

#[repr(C)]
struct CmKeys {
    salt: [u8; 14],
    mac: Sha1Mac,
    /// AES-NI's round keys lead it (the software fallback's follow, not touched).
    aes: Aes128Enc,
}

#[repr(C)]
struct GcmKeys {
    salt: [u8; 12],
    aead: LessSafeKey,
}

/// Where one SSRC's packets have got to: the highest index accepted (48 bits for SRTP, the
/// roll-over counter above the sequence number; 31 for SRTCP) and which of the `WINDOW`
/// before it were seen.
#[derive(Clone, Copy, Default)]
struct Stream {
    ssrc: u32,
    used: bool,
    highest: u64,
    seen: u128,
}

impl Stream {
    /// A stream starting at `index`, not yet accepted.
    fn starting(ssrc: u32, index: u64) -> Self {
        Self {
            ssrc,
            used: true,
            highest: index,
            seen: 0,
        }
    }

    /// The index of the packet with `seq` (RFC 3711 Appendix A): the roll-over counter the
    /// highest index has, or one either side where `seq` is nearer across the wrap. None
    /// for a packet from before the stream's first roll-over counter.
    fn index(&self, seq: u16) -> Option<u64> {
        let roc = self.highest >> 16;
        let last = (self.highest & 0xffff) as i64;
        let seq_wide = i64::from(seq);
        let guess = if last < 32_768 {
            if seq_wide - last > 32_768 {
                roc.checked_sub(1)?
            } else {
                roc
            }
        } else if last - 32_768 > seq_wide {
            roc + 1
        } else {
            roc
        };
        Some(guess << 16 | u64::from(seq))
    }

    fn replayed(&self, index: u64) -> bool {
        if index > self.highest {
            return false;
        }
        let behind = self.highest - index;
        behind >= WINDOW || self.seen >> behind & 1 == 1
    }

    fn accept(&mut self, index: u64) {
        if index > self.highest {
            let ahead = index - self.highest;
            self.seen = if ahead >= WINDOW {
                0
            } else {
                self.seen << ahead
            };
            self.seen |= 1;
            self.highest = index;
        } else {
            self.seen |= 1 << (self.highest - index);
        }
    }
}

impl Direction {
    /// Session keys derived from `key` (key derivation rate 0, as SDES and DTLS-SRTP use).
    pub(super) fn new(key: &MasterKey) -> Result<Self, SrtpError> {
        let master = Aes128Enc::new_from_slice(key.key())
            .map_err(|_| SrtpError::Malformed("the master key is not 128 bits".to_owned()))?;
        let salt = key.salt();
        let keys = match key.suite() {
            Suite::AeadAes128Gcm => {
                let gcm = |key_label, salt_label| -> Result<GcmKeys, SrtpError> {
                    let mut session = [0u8; 16];
                    derive(&master, salt, key_label, &mut session);
                    let mut session_salt = [0u8; 12];
                    derive(&master, salt, salt_label, &mut session_salt);
                    let aead = UnboundKey::new(&AES_128_GCM, &session)
                        .map_err(|_| SrtpError::Malformed("AES-GCM refused the key".to_owned()))?;
                    session.fill(0);
                    Ok(GcmKeys {
                        aead: LessSafeKey::new(aead),
                        salt: session_salt,
                    })
                };
                Keys::Gcm {
                    rtp: gcm(RTP_KEY, RTP_SALT)?,
                    rtcp: gcm(RTCP_KEY, RTCP_SALT)?,
                }
            }
            suite @ (Suite::AesCm128HmacSha1_80 | Suite::AesCm128HmacSha1_32) => {
                let cm = |key_label, auth_label, salt_label| -> Result<CmKeys, SrtpError> {
                    let mut session = [0u8; 16];
                    derive(&master, salt, key_label, &mut session);
                    let mut auth = [0u8; 20];
                    derive(&master, salt, auth_label, &mut auth);
                    let mut session_salt = [0u8; 14];
                    derive(&master, salt, salt_label, &mut session_salt);
                    let keys = CmKeys {
                        aes: Aes128Enc::new(&session.into()),
                        salt: session_salt,
                        mac: Sha1Mac::new(&auth),
                    };
                    session.fill(0);
                    auth.fill(0);
                    Ok(keys)
                };
                Keys::Cm {
                    rtp: cm(RTP_KEY, RTP_AUTH, RTP_SALT)?,
                    rtcp: cm(RTCP_KEY, RTCP_AUTH, RTCP_SALT)?,
                    rtp_tag: suite.rtp_tag_len(),
                }
            }
        };
        Ok(Self {
            keys,
            rtp: [Stream::default(); STREAMS],
            rtcp: [Stream::default(); STREAMS],
            oldest: [0; 2],
            rtcp_sent: 0,
        })
    }

    fn rtp_tag(&self) -> usize {
        match &self.keys {
            Keys::Cm { rtp_tag, .. } => *rtp_tag,
            Keys::Gcm { .. } => GCM_TAG,
        }
    }

    /// How many bytes from its start an RTP packet touches: the streams, and the RTP keys
    /// up to the end of AES-NI's round keys (AES-CM) or of the AES-GCM key.
    pub(super) fn hot_len(&self) -> usize {
        let start = std::ptr::from_ref(self).addr();
        let end = match &self.keys {
            Keys::Cm { rtp, .. } => std::ptr::from_ref(&rtp.aes).addr() + 11 * 16,
            Keys::Gcm { rtp, .. } => std::ptr::from_ref(rtp).addr() + size_of::<GcmKeys>(),
        };
        end - start
    }

    /// Encrypts an RTP packet where it lies and appends its tag.
    pub(super) fn protect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let header = rtp_header_len(packet, 0)?;
        let (ssrc, seq) = (be32(&packet[8..12]), be16(&packet[2..4]));
        let slot = match find(&self.rtp, ssrc) {
            Some(slot) => slot,
            None => self.take_slot(Which::Rtp, Stream::starting(ssrc, u64::from(seq))),
        };
        let index = self.rtp[slot].index(seq).ok_or_else(|| {
            SrtpError::Malformed("sent before the stream's first packet".to_owned())
        })?;
        if index >> 48 != 0 {
            // RFC 3711 §9.2: 2^48 packets under one key, never reached by a call.
            return Err(SrtpError::Malformed("the key is used up".to_owned()));
        }
        match &self.keys {
            Keys::Cm { rtp, rtp_tag, .. } => {
                ctr_xor(&rtp.aes, rtp.iv(ssrc, index), &mut packet[header..]);
                let roc = ((index >> 16) as u32).to_be_bytes();
                let tag = rtp.tag(&[packet, &roc]);
                packet.extend_from_slice(&tag[..*rtp_tag]);
            }
            Keys::Gcm { rtp, .. } => {
                let (head, body) = packet.split_at_mut(header);
                let tag = rtp
                    .aead
                    .seal_in_place_separate_tag(rtp.nonce(ssrc, index), Aad::from(&*head), body)
                    .map_err(|_| SrtpError::Malformed("AES-GCM refused the packet".to_owned()))?;
                packet.extend_from_slice(tag.as_ref());
            }
        }
        self.rtp[slot].accept(index);
        Ok(())
    }

    /// Checks and decrypts an SRTP packet into `out`; the RTP packet's length. What fails
    /// changes nothing.
    pub(super) fn unprotect_rtp(
        &mut self,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SrtpError> {
        let tag_len = self.rtp_tag();
        let header = rtp_header_len(packet, tag_len)?;
        let (ssrc, seq) = (be32(&packet[8..12]), be16(&packet[2..4]));
        let known = find(&self.rtp, ssrc);
        let stream = known.map_or_else(
            || Stream::starting(ssrc, u64::from(seq)),
            |slot| self.rtp[slot],
        );
        let index = stream.index(seq).ok_or(SrtpError::Replayed)?;
        if stream.replayed(index) {
            return Err(SrtpError::Replayed);
        }
        let end = packet.len() - tag_len;
        let Some(out) = out.get_mut(..packet.len()) else {
            return Err(SrtpError::Malformed("no room to decrypt into".to_owned()));
        };
        match &self.keys {
            Keys::Cm { rtp, .. } => {
                let roc = ((index >> 16) as u32).to_be_bytes();
                if !rtp.verify(&[&packet[..end], &roc], &packet[end..]) {
                    return Err(SrtpError::AuthFailed);
                }
                out[..end].copy_from_slice(&packet[..end]);
                ctr_xor(&rtp.aes, rtp.iv(ssrc, index), &mut out[header..end]);
            }
            Keys::Gcm { rtp, .. } => {
                out.copy_from_slice(packet);
                let (head, body) = out.split_at_mut(header);
                rtp.aead
                    .open_in_place(rtp.nonce(ssrc, index), Aad::from(&*head), body)
                    .map_err(|_| SrtpError::AuthFailed)?;
            }
        }
        let slot = known.unwrap_or_else(|| self.take_slot(Which::Rtp, stream));
        self.rtp[slot].accept(index);
        Ok(end)
    }

    /// Encrypts an RTCP packet where it lies and appends the E flag, the SRTCP index and
    /// the tag (in RFC 7714's order for GCM: tag, then E and index).
    pub(super) fn protect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        if packet.len() < 8 || packet[0] >> 6 != 2 {
            return Err(SrtpError::Malformed("not RTCP version 2".to_owned()));
        }
        if self.rtcp_sent >= ENCRYPTED - 1 {
            // RFC 3711 §9.2: 2^31 SRTCP packets under one key.
            return Err(SrtpError::Malformed("the key is used up".to_owned()));
        }
        self.rtcp_sent += 1;
        let index = self.rtcp_sent;
        let ssrc = be32(&packet[4..8]);
        let flagged = (ENCRYPTED | index).to_be_bytes();
        match &self.keys {
            Keys::Cm { rtcp, .. } => {
                ctr_xor(&rtcp.aes, rtcp.iv(ssrc, index.into()), &mut packet[8..]);
                packet.extend_from_slice(&flagged);
                let tag = rtcp.tag(&[packet]);
                packet.extend_from_slice(&tag[..CM_RTCP_TAG]);
            }
            Keys::Gcm { rtcp, .. } => {
                let aad = rtcp_aad(&packet[..8], flagged);
                let tag = rtcp
                    .aead
                    .seal_in_place_separate_tag(
                        rtcp.nonce(ssrc, index.into()),
                        Aad::from(aad),
                        &mut packet[8..],
                    )
                    .map_err(|_| SrtpError::Malformed("AES-GCM refused the packet".to_owned()))?;
                packet.extend_from_slice(tag.as_ref());
                packet.extend_from_slice(&flagged);
            }
        }
        Ok(())
    }

    /// Checks and (when its E flag says so) decrypts an SRTCP packet.
    pub(super) fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let tag_len = match self.keys {
            Keys::Cm { .. } => CM_RTCP_TAG,
            Keys::Gcm { .. } => GCM_TAG,
        };
        if packet.len() < 8 + 4 + tag_len || packet[0] >> 6 != 2 {
            return Err(SrtpError::Malformed("too short for SRTCP".to_owned()));
        }
        let ssrc = be32(&packet[4..8]);
        let flagged_at = match self.keys {
            Keys::Cm { .. } => packet.len() - tag_len - 4,
            Keys::Gcm { .. } => packet.len() - 4,
        };
        let flagged = be32(&packet[flagged_at..flagged_at + 4]);
        let (index, encrypted) = (flagged & !ENCRYPTED, flagged & ENCRYPTED != 0);
        let known = find(&self.rtcp, ssrc);
        let stream = known.map_or_else(
            || Stream::starting(ssrc, index.into()),
            |slot| self.rtcp[slot],
        );
        if stream.replayed(index.into()) {
            return Err(SrtpError::Replayed);
        }
        let plain = match &self.keys {
            Keys::Cm { rtcp, .. } => {
                let end = packet.len() - tag_len;
                if !rtcp.verify(&[&packet[..end]], &packet[end..]) {
                    return Err(SrtpError::AuthFailed);
                }
                let mut plain = packet[..flagged_at].to_vec();
                if encrypted {
                    ctr_xor(&rtcp.aes, rtcp.iv(ssrc, index.into()), &mut plain[8..]);
                }
                plain
            }
            Keys::Gcm { rtcp, .. } => {
                let body_end = flagged_at - tag_len;
                let nonce = rtcp.nonce(ssrc, index.into());
                let flagged = flagged.to_be_bytes();
                if encrypted {
                    let mut plain = packet[..flagged_at].to_vec();
                    let aad = rtcp_aad(&packet[..8], flagged);
                    rtcp.aead
                        .open_in_place(nonce, Aad::from(aad), &mut plain[8..])
                        .map_err(|_| SrtpError::AuthFailed)?;
                    plain.truncate(body_end);
                    plain
                } else {
                    // Authenticated only: all of it is associated data, the tag alone is
                    // "ciphertext" (RFC 7714 §9.2).
                    let mut aad = packet[..body_end].to_vec();
                    aad.extend_from_slice(&flagged);
                    let mut tag = [0u8; GCM_TAG];
                    tag.copy_from_slice(&packet[body_end..flagged_at]);
                    rtcp.aead
                        .open_in_place(nonce, Aad::from(&aad), &mut tag)
                        .map_err(|_| SrtpError::AuthFailed)?;
                    packet[..body_end].to_vec()
                }
            }
        };
        let slot = known.unwrap_or_else(|| self.take_slot(Which::Rtcp, stream));
        self.rtcp[slot].accept(index.into());
        Ok(plain)
    }

    /// A slot for a new SSRC: a free one, else the one taken longest ago.
    fn take_slot(&mut self, which: Which, stream: Stream) -> usize {
        let (streams, oldest) = match which {
            Which::Rtp => (&mut self.rtp, &mut self.oldest[0]),
            Which::Rtcp => (&mut self.rtcp, &mut self.oldest[1]),
        };
        let slot = streams.iter().position(|s| !s.used).unwrap_or_else(|| {
            let slot = *oldest;
            *oldest = (*oldest + 1) % STREAMS;
            slot
        });
        streams[slot] = stream;
        slot
    }
}

#[derive(Clone, Copy)]
enum Which {
    Rtp,
    Rtcp,
}

fn find(streams: &[Stream; STREAMS], ssrc: u32) -> Option<usize> {
    streams.iter().position(|s| s.used && s.ssrc == ssrc)
}

impl CmKeys {
    /// RFC 3711 §4.1.1: the session salt, the SSRC and the index, each shifted into place.
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        xor(&mut iv[4..8], &ssrc.to_be_bytes());
        xor(&mut iv[8..14], &index.to_be_bytes()[2..]);
        iv
    }

    fn tag(&self, parts: &[&[u8]]) -> [u8; 20] {
        self.mac.mac(parts)
    }

    /// Whether `tag` is the leading bytes of the HMAC of `parts`, compared in constant time.
    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mac = self.mac.mac(parts);
        mac.get(..tag.len())
            .is_some_and(|mac| bool::from(mac.ct_eq(tag)))
    }
}

/// SHA-1's initial hash value (FIPS 180-4 §5.3.1).
const SHA1_START: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// HMAC-SHA1 (RFC 2104) on the sha1 crate's compression function (SHA-NI where the CPU has
/// it): the key's inner and outer pad blocks are compressed once, when keyed; a packet then
/// costs its own blocks, compressed where they lie, and one block each for the two paddings.
/// The hmac crate's wrapper did the same through a copied block buffer and cloned state:
/// `call_cpu`'s protect + unprotect of a G.711 packet went from 511 to 476 ns.
#[derive(Clone, Copy)]
pub(super) struct Sha1Mac {
    inner: [u32; 5],
    outer: [u32; 5],
}

impl Sha1Mac {
    pub(super) fn new(key: &[u8; 20]) -> Self {
        let pad = |byte: u8| {
            let mut block = [byte; 64];
            xor(&mut block, key);
            let mut state = SHA1_START;
            compress(&mut state, &block);
            state
        };
        Self {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// The HMAC of `parts` one after another.
    pub(super) fn mac(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut state = self.inner;
        let mut block = [0u8; 64];
        let mut fill = 0;
        // The inner pad's block counts in the length.
        let mut total = 64u64;
        for part in parts {
            total += part.len() as u64;
            let mut rest = *part;
            if fill > 0 {
                let take = rest.len().min(64 - fill);
                block[fill..fill + take].copy_from_slice(&rest[..take]);
                fill += take;
                rest = &rest[take..];
                if fill < 64 {
                    continue;
                }
                compress(&mut state, &block);
            }
            let mut chunks = rest.chunks_exact(64);
            for whole in &mut chunks {
                compress(&mut state, whole);
            }
            let tail = chunks.remainder();
            block[..tail.len()].copy_from_slice(tail);
            fill = tail.len();
        }
        let inner = finish(state, &mut block, fill, total);
        let mut block = [0u8; 64];
        block[..20].copy_from_slice(&inner);
        finish(self.outer, &mut block, 20, 64 + 20)
    }
}

/// SHA-1's padding after the `fill` bytes in `block`, `total` bytes hashed in all; the
/// digest.
fn finish(mut state: [u32; 5], block: &mut [u8; 64], fill: usize, total: u64) -> [u8; 20] {
    block[fill] = 0x80;
    block[fill + 1..].fill(0);
    if fill >= 56 {
        compress(&mut state, block);
        block.fill(0);
    }
    block[56..].copy_from_slice(&(total * 8).to_be_bytes());
    compress(&mut state, block);
    let mut digest = [0u8; 20];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// One 64-byte block into `state`.
fn compress(state: &mut [u32; 5], block: &[u8]) {
    sha1::compress(state, std::slice::from_ref(block.into()));
}

impl GcmKeys {
    /// RFC 7714 §8.1 and §9.1: two zero bytes, the SSRC and the 48-bit index (the roll-over
    /// counter and sequence number, or the SRTCP index), XORed with the session salt.
    fn nonce(&self, ssrc: u32, index: u64) -> Nonce {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..].copy_from_slice(&index.to_be_bytes()[2..]);
        xor(&mut iv, &self.salt);
        Nonce::assume_unique_for_key(iv)
    }
}

/// SRTCP's associated data with GCM: the first 8 bytes, then E and the index.
fn rtcp_aad(head: &[u8], flagged: [u8; 4]) -> [u8; 12] {
    let mut aad = [0u8; 12];
    aad[..8].copy_from_slice(head);
    aad[8..].copy_from_slice(&flagged);
    aad
}

/// The AES-CM key derivation of RFC 3711 §4.3.1 (rate 0): the salt with the label at byte
/// 7, as a counter's start, its keystream the session key, salt or auth key.
pub(super) fn derive(master: &Aes128Enc, salt: &[u8], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..salt.len()].copy_from_slice(salt);
    iv[7] ^= label;
    out.fill(0);
    ctr_xor(master, iv, out);
}

/// AES in counter mode from `iv` (the block counter in its low bits), XORed over `data`;
/// 16 blocks at a time, so AES-NI works them side by side.
pub(super) fn ctr_xor(aes: &Aes128Enc, iv: [u8; 16], data: &mut [u8]) {
    let mut counter = u128::from_be_bytes(iv);
    for chunk in data.chunks_mut(16 * 16) {
        let count = chunk.len().div_ceil(16);
        let mut blocks = [aes::Block::default(); 16];
        for block in &mut blocks[..count] {
            block.copy_from_slice(&counter.to_be_bytes());
            counter = counter.wrapping_add(1);
        }
        aes.encrypt_blocks(&mut blocks[..count]);
        // A block's 16 bytes XORed as one word: byte by byte, the XOR cost more than the AES.
        for (bytes, key) in chunk.chunks_mut(16).zip(&blocks) {
            match <&mut [u8; 16]>::try_from(&mut *bytes) {
                Ok(whole) => {
                    let key: [u8; 16] = (*key).into();
                    *whole = (u128::from_ne_bytes(*whole) ^ u128::from_ne_bytes(key)).to_ne_bytes();
                }
                Err(_) => xor(bytes, key),
            }
        }
    }
}

/// A hint to the CPU to bring the `len` bytes at `value` into the cache, all lines at once
/// (their misses overlap); nothing else.
#[inline(always)]
pub(super) fn prefetch<T: ?Sized>(value: &T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = std::ptr::from_ref(value).cast::<i8>();
        for offset in (0..len).step_by(64) {
            // SAFETY: a prefetch is a hint: it reads nothing into the program and faults on
            // no address; these are within `value` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (value, len);
}

fn xor(into: &mut [u8], with: &[u8]) {
    for (a, b) in into.iter_mut().zip(with) {
        *a ^= b;
    }
}

fn be16(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The length of an RTP packet's header — fixed part, CSRCs, extension — when it lies inside
/// the packet before a trailing tag of `tag` bytes.
fn rtp_header_len(packet: &[u8], tag: usize) -> Result<usize, SrtpError> {
    if packet.len() < 12 + tag || packet[0] >> 6 != 2 {
        return Err(SrtpError::Malformed("not RTP version 2".to_owned()));
    }
    let mut len = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 {
        if len + 4 > packet.len() {
            return Err(SrtpError::Malformed(
                "the RTP header runs past the packet".to_owned(),
            ));
        }
        len += 4 + 4 * usize::from(be16(&packet[len + 2..len + 4]));
    }
    if len + tag > packet.len() {
        return Err(SrtpError::Malformed(
            "the RTP header runs past the packet".to_owned(),
        ));
    }
    Ok(len)
}
