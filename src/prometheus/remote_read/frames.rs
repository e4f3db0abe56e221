//! Incremental decoding of Prometheus's streamed remote-read framing.
//!
//! A `STREAMED_XOR_CHUNKS` response body is a sequence of frames, each
//! `uvarint(len) ‖ crc32c(message) as u32 big-endian ‖ message` (see `storage/remote/chunked.go`).
//! The body arrives in arbitrary slices from the network, so this decoder buffers only the
//! current incomplete frame and hands out whole, checksum-verified messages; it refuses a
//! frame whose announced length exceeds a limit before buffering it, so memory stays bounded
//! by one frame whatever the size of the response.

use bytes::{Buf, Bytes, BytesMut};

/// Default limit on one frame; Prometheus writes frames of about 1 MiB
/// (`--storage.remote.read-max-bytes-in-frame`), so this is generous.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// Longest encoding of a `u64` as a uvarint.
const MAX_VARINT_LEN: usize = 10;

/// What can be wrong with a framed stream; frames are numbered from 0.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame {frame}: length of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { frame: u64, len: u64, max: usize },
    #[error("frame {frame}: length uvarint overflows 64 bits")]
    VarintOverflow { frame: u64 },
    #[error("frame {frame}: crc32c mismatch (header {expected:#010x}, computed {actual:#010x})")]
    CrcMismatch {
        frame: u64,
        expected: u32,
        actual: u32,
    },
    #[error("truncated stream: it ends inside frame {frame} ({buffered} bytes of it received)")]
    Truncated { frame: u64, buffered: usize },
}

/// Parsed header of the frame at the front of the buffer.
#[derive(Clone, Copy)]
struct Header {
    /// Bytes of varint + CRC.
    header_len: usize,
    len: usize,
    crc: u32,
}

/// Turns byte slices, as they arrive, into verified frame payloads.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame: usize,
    /// Frames returned so far: the number of the next one.
    frames: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose message is longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> FrameDecoder {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame,
            frames: 0,
        }
    }

    /// Appends received bytes; call [`FrameDecoder::next_frame`] until it yields `None`.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The next complete frame's message, `Ok(None)` when more bytes are needed.
    /// After an error the stream is unusable: the caller must stop.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(h) = self.header()? else {
            return Ok(None);
        };
        let total = h.header_len.saturating_add(h.len);
        if self.buf.len() < total {
            // Reserve once for the whole frame rather than growing by doubling.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(h.header_len);
        let msg = self.buf.split_to(h.len).freeze();
        let actual = crc32c::crc32c(&msg);
        if actual != h.crc {
            return Err(FrameError::CrcMismatch {
                frame: self.frames,
                expected: h.crc,
                actual,
            });
        }
        self.frames += 1;
        Ok(Some(msg))
    }

    /// Checks, once the body has ended, that it did not end inside a frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated {
                frame: self.frames,
                buffered: self.buf.len(),
            })
        }
    }

    /// Parses the header at the front of the buffer, if all of it has arrived.
    fn header(&self) -> Result<Option<Header>, FrameError> {
        let mut len: u64 = 0;
        let mut varint_len = None;
        for (i, &b) in self.buf.iter().take(MAX_VARINT_LEN).enumerate() {
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                return Err(FrameError::VarintOverflow { frame: self.frames });
            }
            len |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                varint_len = Some(i + 1);
                break;
            }
        }
        let Some(varint_len) = varint_len else {
            if self.buf.len() >= MAX_VARINT_LEN {
                return Err(FrameError::VarintOverflow { frame: self.frames });
            }
            return Ok(None);
        };
        let too_large = FrameError::TooLarge {
            frame: self.frames,
            len,
            max: self.max_frame,
        };
        let len = usize::try_from(len).map_err(|_| too_large.clone())?;
        if len > self.max_frame {
            return Err(too_large);
        }
        let Some(crc) = self.buf.get(varint_len..varint_len + 4) else {
            return Ok(None);
        };
        let crc = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        Ok(Some(Header {
            header_len: varint_len + 4,
            len,
            crc,
        }))
    }
}

/// Encodes one frame as Prometheus's `ChunkedWriter` does (for tests and fixtures).
pub fn encode_frame(msg: &[u8], out: &mut Vec<u8>) {
    let mut len = msg.len() as u64;
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(&crc32c::crc32c(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages() -> Vec<Vec<u8>> {
        vec![
            b"a".to_vec(),
            (0..200u8).collect(), // two-byte length varint
            vec![7; 20_000],      // three-byte length varint
            b"last".to_vec(),
        ]
    }

    fn stream(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            encode_frame(m, &mut out);
        }
        out
    }

    /// Feeds `parts` in order and collects every frame, then checks the end of stream.
    fn decode(parts: &[&[u8]], max: usize) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut d = FrameDecoder::new(max);
        let mut got = Vec::new();
        for p in parts {
            d.push(p);
            while let Some(f) = d.next_frame()? {
                got.push(f.to_vec());
            }
        }
        d.finish()?;
        Ok(got)
    }

    #[test]
    fn good_frames_split_at_every_byte_boundary_decode_identically() {
        let msgs = messages();
        let s = stream(&msgs);
        assert_eq!(decode(&[&s], DEFAULT_MAX_FRAME).unwrap(), msgs);
        for cut in 0..=s.len() {
            let (a, b) = s.split_at(cut);
            assert_eq!(
                decode(&[a, b], DEFAULT_MAX_FRAME).unwrap(),
                msgs,
                "cut {cut}"
            );
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(decode(&bytes, DEFAULT_MAX_FRAME).unwrap(), msgs);
    }

    #[test]
    fn empty_stream_has_no_frames() {
        assert_eq!(decode(&[], 10).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn bad_crc_names_the_frame() {
        let msgs = messages();
        let mut s = stream(&msgs);
        let last = s.len() - 1;
        s[last] ^= 1;
        let err = decode(&[&s], DEFAULT_MAX_FRAME).unwrap_err();
        assert!(
            matches!(err, FrameError::CrcMismatch { frame: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("frame 3: crc32c mismatch"));
    }

    #[test]
    fn stream_ending_in_length_crc_or_body_is_truncated() {
        let msgs = messages();
        let s = stream(&msgs);
        let first = stream(&msgs[..1]).len();
        // Inside the 2-byte varint, the crc and the body of frame 1.
        for end in [first + 1, first + 2 + 2, first + 2 + 4 + 100] {
            let err = decode(&[&s[..end]], DEFAULT_MAX_FRAME).unwrap_err();
            assert_eq!(
                err,
                FrameError::Truncated {
                    frame: 1,
                    buffered: end - first
                }
            );
            assert!(err.to_string().starts_with("truncated stream"));
        }
    }

    #[test]
    fn oversize_frame_is_refused_from_its_header_alone() {
        let mut d = FrameDecoder::new(100);
        d.push(&[0xe5, 0x8e, 0x26]); // 624485
        assert_eq!(
            d.next_frame().unwrap_err(),
            FrameError::TooLarge {
                frame: 0,
                len: 624_485,
                max: 100
            }
        );
        let s = stream(&[vec![1; 101]]);
        assert!(matches!(
            decode(&[&s], 100).unwrap_err(),
            FrameError::TooLarge { len: 101, .. }
        ));
        assert_eq!(decode(&[&s], 101).unwrap(), vec![vec![1; 101]]);
    }

    #[test]
    fn overlong_varint_is_refused() {
        let mut d = FrameDecoder::default();
        d.push(&[0xff; 10]);
        assert!(matches!(
            d.next_frame(),
            Err(FrameError::VarintOverflow { frame: 0 })
        ));
        let mut d = FrameDecoder::default();
        d.push(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert!(matches!(
            d.next_frame(),
            Err(FrameError::VarintOverflow { .. })
        ));
    }

    #[test]
    fn crc_is_castagnoli_as_prometheus_writes_it() {
        // CRC-32C check value of "123456789".
        let mut out = Vec::new();
        encode_frame(b"123456789", &mut out);
        assert_eq!(&out[1..5], &0xe306_9283_u32.to_be_bytes());
    }
}
