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
struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl BitReader<'_> {
    /// Reads `n <= 64` bits as the low bits of a `u64`, `None` past the end.
    fn bits(&mut self, n: u32) -> Option<u64> {
        let end = self.pos.checked_add(n as usize)?;
        if end > self.data.len().checked_mul(8)? {
            return None;
        }
        let mut v: u64 = 0;
        let mut left = n;
        while left > 0 {
            let byte = *self.data.get(self.pos / 8)?;
            let avail = 8 - (self.pos % 8) as u32;
            let take = avail.min(left);
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            v = v.checked_shl(take).unwrap_or(0) | chunk;
            self.pos += take as usize;
            left -= take;
        }
        Some(v)
    }

    fn bit(&mut self) -> Option<bool> {
        self.bits(1).map(|b| b == 1)
    }

    /// Go's `binary.ReadUvarint` over 8-bit reads; `Err(())` on overflow, `Ok(None)` past the end.
    fn uvarint(&mut self) -> Result<Option<u64>, ()> {
        let mut x: u64 = 0;
        for i in 0..10u32 {
            let Some(b) = self.bits(8) else {
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
    let mut r = BitReader { data: rest, pos: 0 };
    out.reserve(usize::from(total));
    let mut t: i64 = 0;
    let mut v_bits: u64 = 0;
    let mut t_delta: u64 = 0;
    let (mut leading, mut trailing) = (0u8, 0u8);
    for sample in 0..total {
        let short = XorError::Truncated { sample, total };
        let overflow = XorError::VarintOverflow { sample };
        match sample {
            0 => {
                let ux = r.uvarint().map_err(|()| overflow)?.ok_or(short.clone())?;
                // Zig-zag, as Go's binary.ReadVarint.
                t = ((ux >> 1) as i64) ^ -((ux & 1) as i64);
                v_bits = r.bits(64).ok_or(short)?;
                out.push((t, f64::from_bits(v_bits)));
                continue;
            }
            1 => {
                t_delta = r.uvarint().map_err(|()| overflow)?.ok_or(short.clone())?;
            }
            _ => {
                let mut prefix = 0u32;
                while prefix < 4 && r.bit().ok_or(short.clone())? {
                    prefix += 1;
                }
                let dod: i64 = match prefix {
                    0 => 0,
                    1..=3 => {
                        let sz = [14u32, 17, 20][prefix as usize - 1];
                        let raw = r.bits(sz).ok_or(short.clone())?;
                        // Negative values come back as high unsigned numbers (docs/bstream.md).
                        if raw > 1 << (sz - 1) {
                            raw as i64 - (1i64 << sz)
                        } else {
                            raw as i64
                        }
                    }
                    _ => r.bits(64).ok_or(short.clone())? as i64,
                };
                t_delta = (t_delta as i64).wrapping_add(dod) as u64;
            }
        }
        t = t.wrapping_add(t_delta as i64);
        if r.bit().ok_or(short.clone())? {
            if r.bit().ok_or(short.clone())? {
                leading = r.bits(5).ok_or(short.clone())? as u8;
                let mut significant = r.bits(6).ok_or(short.clone())? as u8;
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
            let bits = r.bits(significant).ok_or(short)?;
            v_bits ^= bits.checked_shl(u32::from(trailing)).unwrap_or(0);
        }
        out.push((t, f64::from_bits(v_bits)));
    }
    Ok(())
}

#[cfg(test)]
#[path = "xor_tests.rs"]
pub(super) mod tests;
