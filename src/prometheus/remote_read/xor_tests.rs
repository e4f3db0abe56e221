//! Tests of the XOR decoder against a mirror of Prometheus's Go encoder and real chunks.

use super::*;

/// Bit writer, most significant bit first, as Go's `bstream`.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (8 = full).
    used: u32,
}

impl BitWriter {
    fn bits(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            if self.used == 8 || self.bytes.is_empty() {
                self.bytes.push(0);
                self.used = 0;
            }
            let bit = ((v >> i) & 1) as u8;
            let last = self.bytes.last_mut().unwrap();
            *last |= bit << (7 - self.used);
            self.used += 1;
        }
    }

    fn uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.bits((x & 0x7f) | 0x80, 8);
            x >>= 7;
        }
        self.bits(x, 8);
    }
}

/// Mirror of `xorAppender.Append` in `tsdb/chunkenc/xor.go`.
pub(crate) fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut w = BitWriter::default();
    let (mut t_prev, mut v_prev, mut t_delta_prev) = (0i64, 0f64, 0u64);
    let (mut leading, mut trailing) = (0xffu8, 0u8);
    for (i, &(t, v)) in samples.iter().enumerate() {
        let mut t_delta = 0;
        if i == 0 {
            w.uvarint(((t << 1) ^ (t >> 63)) as u64);
            w.bits(v.to_bits(), 64);
        } else {
            t_delta = t.wrapping_sub(t_prev) as u64;
            if i == 1 {
                w.uvarint(t_delta);
            } else {
                let dod = t_delta.wrapping_sub(t_delta_prev) as i64;
                let in_range = |n: u32| -((1i64 << (n - 1)) - 1) <= dod && dod <= 1 << (n - 1);
                match dod {
                    0 => w.bits(0, 1),
                    _ if in_range(14) => {
                        w.bits(0b10, 2);
                        w.bits(dod as u64 & ((1 << 14) - 1), 14);
                    }
                    _ if in_range(17) => {
                        w.bits(0b110, 3);
                        w.bits(dod as u64 & ((1 << 17) - 1), 17);
                    }
                    _ if in_range(20) => {
                        w.bits(0b1110, 4);
                        w.bits(dod as u64 & ((1 << 20) - 1), 20);
                    }
                    _ => {
                        w.bits(0b1111, 4);
                        w.bits(dod as u64, 64);
                    }
                }
            }
            let delta = v.to_bits() ^ v_prev.to_bits();
            if delta == 0 {
                w.bits(0, 1);
            } else {
                w.bits(1, 1);
                let l = (delta.leading_zeros() as u8).min(31);
                let tr = delta.trailing_zeros() as u8;
                if leading != 0xff && l >= leading && tr >= trailing {
                    w.bits(0, 1);
                    w.bits(
                        delta >> trailing,
                        64 - u32::from(leading) - u32::from(trailing),
                    );
                } else {
                    (leading, trailing) = (l, tr);
                    w.bits(1, 1);
                    w.bits(u64::from(l), 5);
                    let sig = 64 - u32::from(l) - u32::from(tr);
                    w.bits(u64::from(sig) & 0x3f, 6);
                    w.bits(delta >> tr, sig);
                }
            }
        }
        (t_prev, v_prev, t_delta_prev) = (t, v, t_delta);
    }
    let mut out = (samples.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&w.bytes);
    out
}

/// xorshift64*: deterministic randomness without a dependency.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn decode(data: &[u8]) -> Result<Vec<(i64, f64)>, XorError> {
    let mut out = Vec::new();
    decode_xor(data, &mut out)?;
    Ok(out)
}

fn assert_same(got: &[(i64, f64)], want: &[(i64, f64)]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0, g.1.to_bits()), (w.0, w.1.to_bits()), "{g:?} vs {w:?}");
    }
}

const SPECIAL: [f64; 9] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.0,
    f64::MAX,
    f64::MIN_POSITIVE,
    1e-300,
    -123.456,
];

/// A random series of `n` samples in one of several timestamp and value styles.
fn random_series(rng: &mut Rng, n: usize) -> Vec<(i64, f64)> {
    let style = rng.below(4);
    let mut t = rng.next() as i64 >> rng.below(40);
    let mut v = 0.0f64;
    let step = 1 + rng.below(60_000) as i64;
    (0..n)
        .map(|_| {
            t = t.wrapping_add(match style {
                0 => step,                                 // regular
                1 => step + rng.below(2001) as i64 - 1000, // jitter
                2 => rng.below(1 << 22) as i64,            // irregular, incl. equal and big jumps
                _ => (rng.next() >> rng.below(64)) as i64, // huge deltas
            });
            v = match rng.below(6) {
                0 => v,
                1 => SPECIAL[rng.below(SPECIAL.len() as u64) as usize],
                2 => f64::from_bits(rng.next()),
                3 => v + 1.0,
                4 => rng.below(1000) as f64,
                _ => (rng.next() as f64) / 7.0,
            };
            (t, v)
        })
        .collect()
}

#[test]
fn random_series_round_trip_through_the_go_encoder_mirror() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for n in [1, 2, 3, 4, 5, 10, 120, 1000] {
        for _ in 0..200 {
            let s = random_series(&mut rng, n);
            assert_same(&decode(&encode(&s)).unwrap(), &s);
        }
    }
}

#[test]
fn edge_values_and_deltas_round_trip() {
    let mut s = vec![(i64::MIN / 2, f64::NAN), (i64::MIN / 2 + 1, f64::NAN)];
    // Deltas of delta at every bucket boundary, both signs.
    let mut t = s[1].0;
    let mut d = 1i64;
    for dod in [
        0, 1, -1, 8192, -8191, 8193, 65536, -65535, 65537, 524288, -524287, 524289,
    ] {
        d += dod;
        t += d;
        s.push((t, -0.0));
    }
    for (i, v) in SPECIAL.iter().enumerate() {
        s.push((t + 1 + i as i64, *v));
    }
    s.push((i64::MAX, 1.0));
    assert_same(&decode(&encode(&s)).unwrap(), &s);
    let neg = [(-5, 1.0), (-3, 1.0), (10, 2.0)];
    assert_same(&decode(&encode(&neg)).unwrap(), &neg);
}

#[test]
fn empty_chunk_has_no_samples() {
    assert_eq!(decode(&[0, 0]).unwrap(), vec![]);
}

#[test]
fn short_or_malformed_chunks_are_errors() {
    assert_eq!(decode(&[]), Err(XorError::NoHeader));
    assert_eq!(decode(&[1]), Err(XorError::NoHeader));
    assert_eq!(
        decode(&[0, 1]),
        Err(XorError::Truncated {
            sample: 0,
            total: 1
        })
    );
    let s: Vec<(i64, f64)> = (0..50)
        .map(|i| (i * 1000 + i * i, i as f64 * 0.1))
        .collect();
    let bytes = encode(&s);
    // Every proper prefix is an error: the encoder adds a byte only to write a bit into it.
    for end in 2..bytes.len() {
        assert!(
            matches!(decode(&bytes[..end]), Err(XorError::Truncated { .. })),
            "prefix {end}"
        );
    }
    // A header promising more samples than the stream holds.
    let mut more = bytes.clone();
    more[1] += 5;
    assert!(decode(&more).is_err());
    assert!(matches!(
        decode(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        Err(XorError::VarintOverflow { sample: 0 })
    ));
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    let mut ok = 0;
    for _ in 0..20_000 {
        let len = rng.below(64) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if data.len() >= 2 && rng.below(2) == 0 {
            data[0] = 0; // plausible counts are the interesting ones
        }
        ok += usize::from(decode(&data).is_ok());
    }
    // Mutated valid chunks, too.
    for _ in 0..5_000 {
        let n = 1 + rng.below(40) as usize;
        let s = random_series(&mut rng, n);
        let mut data = encode(&s);
        let i = rng.below(data.len() as u64) as usize;
        data[i] ^= 1 << rng.below(8);
        ok += usize::from(decode(&data).is_ok());
    }
    assert!(ok > 0);
}

/// The chunk of `test_requests_total` that Prometheus 2.42 streamed for the `collect` test
/// fixture (printed by `a_real_xor_chunk_decodes_to_the_backfilled_counter_values`): 8 samples
/// every 15 s from 2026-01-01T00:00:00Z.
const REAL_CHUNK: &str = "000880a0d5edee6600000000000000009875c26c0250011b03ad237aa84eb58b70";

#[test]
fn a_chunk_written_by_prometheus_decodes_and_the_encoder_mirror_reproduces_it() {
    let bytes: Vec<u8> = (0..REAL_CHUNK.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&REAL_CHUNK[i..i + 2], 16).unwrap())
        .collect();
    let want: Vec<(i64, f64)> = [0.0, 10.0, 20.0, 30.0, 40.0, 5.0, 15.0, 25.0]
        .iter()
        .enumerate()
        .map(|(i, &v)| (1_767_225_600_000 + 15_000 * i as i64, v))
        .collect();
    assert_same(&decode(&bytes).unwrap(), &want);
    assert_eq!(encode(&want), bytes);
}
