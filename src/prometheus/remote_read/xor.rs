//! Decoding of Prometheus's XOR ("Gorilla") chunk encoding into `(timestamp_ms, value)` samples.
//!
//! Remote read streams TSDB chunks as stored, so the client must decode them itself. The format
//! (`tsdb/chunkenc/xor.go`): a big-endian `u16` sample count, then a bit stream (most significant
//! bit first): the first timestamp as a zig-zag varint and the first value as 64 raw bits; the
//! second timestamp as a uvarint delta; later timestamps as a delta of deltas in buckets
//! `0` (0), `10`+14 bits, `110`+17 bits, `1110`+20 bits, `1111`+64 bits; every value after the
//! first XOR'ed with the previous one: `0` (same), `10` (reuse the previous leading/trailing
//! zero counts) or `11` + 5 bits leading + 6 bits significant-bit count (0 meaning 64), then the
//! significant bits. Input comes from the network, so every read is checked: malformed data is
//! an error, never a panic.

/// What can be wrong with a chunk.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum XorError {
    #[error("xor chunk shorter than its 2-byte header")]
    NoHeader,
    #[error("xor chunk ends inside sample {sample} of {total}")]
    Truncated { sample: u16, total: u16 },
    #[error("xor chunk: timestamp varint of sample {sample} overflows 64 bits")]
    VarintOverflow { sample: u16 },
    #[error("xor chunk: sample {sample} has {leading} leading + {significant} significant bits")]
    BadBitCounts {
        sample: u16,
        leading: u8,
        significant: u8,
    },
}

/// Bit-level reader over a byte slice, most significant bit first.
///
/// Reads go through [`BitReader::peek`], one unaligned 8-byte big-endian load, so a field of up
/// to 56 bits costs a load, a shift and a mask instead of a loop over its bytes (the decoder was
/// a fifth of a Parquet export's CPU).
struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
    /// Length in bits.
    len: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            len: data.len() * 8,
        }
    }

    /// The next 57 or more bits, left-aligned (bits past the end read as 0).
    #[inline]
    fn peek(&self) -> u64 {
        let byte = self.pos / 8;
        let word = match self.data.get(byte..byte + 8) {
            Some(b) => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
            None => {
                let mut b = [0u8; 8];
                let tail = self.data.get(byte..).unwrap_or(&[]);
                b[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(b)
            }
        };
        word << (self.pos % 8)
    }

    /// Whether `n` more bits are there.
    #[inline]
    fn has(&self, n: usize) -> bool {
        self.len - self.pos >= n
    }

    /// Reads `n <= 56` bits as the low bits of a `u64`, `None` past the end.
    #[inline]
    fn short_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!((1..=56).contains(&n));
        if !self.has(n as usize) {
            return None;
        }
        let v = self.peek() >> (64 - n);
        self.pos += n as usize;
        Some(v)
    }

    /// Reads `n <= 64` bits as the low bits of a `u64`, `None` past the end.
    #[inline]
    fn bits(&mut self, n: u32) -> Option<u64> {
        match n {
            0 => Some(0),
            1..=56 => self.short_bits(n),
            _ => {
                if !self.has(n as usize) {
                    return None;
                }
                let hi = self.short_bits(32)?;
                let lo = self.short_bits(n - 32)?;
                Some(hi << (n - 32) | lo)
            }
        }
    }

    /// Counts up to `max <= 8` leading one bits and consumes them and the zero that ends them
    /// (not consumed when `max` ones were read): the XOR encoding's unary prefixes.
    #[inline]
    fn ones(&mut self, max: u32) -> Option<u32> {
        let n = (!self.peek()).leading_zeros().min(max);
        let used = n + u32::from(n < max);
        if !self.has(used as usize) {
            return None;
        }
        self.pos += used as usize;
        Some(n)
    }

    /// Go's `binary.ReadUvarint` over 8-bit reads; `Err(())` on overflow, `Ok(None)` past the end.
    fn uvarint(&mut self) -> Result<Option<u64>, ()> {
        let mut x: u64 = 0;
        for i in 0..10u32 {
            let Some(b) = self.short_bits(8) else {
                return Ok(None);
            };
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(());
                }
                return Ok(Some(x | (b << (7 * i))));
            }
            x |= (b & 0x7f) << (7 * i);
        }
        Err(())
    }
}

/// Decodes an XOR chunk, appending its samples to `out` in chunk order.
pub fn decode_xor(data: &[u8], out: &mut Vec<(i64, f64)>) -> Result<(), XorError> {
    let Some((&[hi, lo], rest)) = data.split_first_chunk::<2>() else {
        return Err(XorError::NoHeader);
    };
    let total = u16::from_be_bytes([hi, lo]);
    let mut r = BitReader::new(rest);
    out.reserve(usize::from(total));
    let mut t: i64 = 0;
    let mut v_bits: u64 = 0;
    let mut t_delta: u64 = 0;
    let (mut leading, mut trailing) = (0u8, 0u8);
    for sample in 0..total {
        let short = || XorError::Truncated { sample, total };
        let overflow = || XorError::VarintOverflow { sample };
        match sample {
            0 => {
                let ux = r.uvarint().map_err(|()| overflow())?.ok_or_else(short)?;
                // Zig-zag, as Go's binary.ReadVarint.
                t = ((ux >> 1) as i64) ^ -((ux & 1) as i64);
                v_bits = r.bits(64).ok_or_else(short)?;
                out.push((t, f64::from_bits(v_bits)));
                continue;
            }
            1 => {
                t_delta = r.uvarint().map_err(|()| overflow())?.ok_or_else(short)?;
            }
            _ => {
                let dod: i64 = match r.ones(4).ok_or_else(short)? {
                    0 => 0,
                    prefix @ 1..=3 => {
                        let sz = [14u32, 17, 20][prefix as usize - 1];
                        let raw = r.short_bits(sz).ok_or_else(short)?;
                        // Negative values come back as high unsigned numbers (docs/bstream.md).
                        if raw > 1 << (sz - 1) {
                            raw as i64 - (1i64 << sz)
                        } else {
                            raw as i64
                        }
                    }
                    _ => r.bits(64).ok_or_else(short)? as i64,
                };
                t_delta = (t_delta as i64).wrapping_add(dod) as u64;
            }
        }
        t = t.wrapping_add(t_delta as i64);
        match r.ones(2).ok_or_else(short)? {
            0 => {}
            n => {
                if n == 2 {
                    let counts = r.short_bits(11).ok_or_else(short)?;
                    leading = (counts >> 6) as u8;
                    let mut significant = (counts & 0x3f) as u8;
                    if significant == 0 {
                        significant = 64;
                    }
                    trailing = 64u8
                        .checked_sub(leading)
                        .and_then(|x| x.checked_sub(significant))
                        .ok_or(XorError::BadBitCounts {
                            sample,
                            leading,
                            significant,
                        })?;
                }
                let significant = 64 - u32::from(leading) - u32::from(trailing);
                let bits = r.bits(significant).ok_or_else(short)?;
                v_bits ^= bits.checked_shl(u32::from(trailing)).unwrap_or(0);
            }
        }
        out.push((t, f64::from_bits(v_bits)));
    }
    Ok(())
}

#[cfg(test)]
#[path = "xor_tests.rs"]
pub(super) mod tests;
