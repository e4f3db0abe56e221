//! Exact order statistics without sorting: `select_nth_unstable` for one series in memory,
//! and a radix select over a spill file for all samples of a query, so that pooled percentiles
//! need no more memory than a fixed histogram, whatever the window.

use super::kpi::{ranks, QUANTILES};
use std::io::{self, Read};
use std::path::Path;

/// p50/p95/p99 of finite values (numpy `linear`), by selection in O(n); reorders `values`.
pub(crate) fn percentiles_in_place(values: &mut [f64]) -> [Option<f64>; 3] {
    let n = values.len() as u64;
    if n == 0 {
        return [None; 3];
    }
    let rs = QUANTILES.map(|q| ranks(n, q));
    let mut wanted: Vec<u64> = rs.iter().flat_map(|&(lo, hi, _)| [lo, hi]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    // Each rank is selected in the part right of the previous one.
    let mut found = Vec::with_capacity(wanted.len());
    let mut base = 0usize;
    for &r in &wanted {
        let r = r as usize;
        let (_, v, _) = values[base..].select_nth_unstable_by(r - base, f64::total_cmp);
        found.push((r as u64, *v));
        base = r;
    }
    let at = |r: u64| found.iter().find(|f| f.0 == r).map_or(f64::NAN, |f| f.1);
    rs.map(|(lo, hi, frac)| {
        let (a, b) = (at(lo), at(hi));
        Some(a + frac * (b - a))
    })
}

/// Order-preserving map from f64 to u64 (for finite values and ±0).
fn key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn from_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Reads `path` (little-endian f64s) once, calling `f` for each value.
fn scan(path: &Path, mut f: impl FnMut(u64)) -> io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut have = 0;
    loop {
        let n = file.read(&mut buf[have..])?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        let whole = have - have % 8;
        for c in buf[..whole].chunks_exact(8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f(key(f64::from_le_bytes(a)));
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
}

/// Exact order statistics (0-based `ranks`) of the `n` finite f64s in `path`, without loading
/// them: radix select over the order-preserving 64-bit key, 16 bits per pass, so four reads of
/// the file and a 512 KiB histogram per distinct prefix.
pub(crate) fn select_from_file(path: &Path, n: u64, ranks: &[u64]) -> io::Result<Vec<f64>> {
    // Per rank: the key prefix found so far and the rank within that prefix.
    let mut st: Vec<(u64, u64)> = ranks
        .iter()
        .map(|&r| (0, r.min(n.saturating_sub(1))))
        .collect();
    for pass in 0..4u32 {
        let shift = 48 - 16 * pass;
        let mut groups: Vec<u64> = st.iter().map(|s| s.0).collect();
        groups.sort_unstable();
        groups.dedup();
        let mut hist = vec![vec![0u64; 1 << 16]; groups.len()];
        scan(path, |k| {
            let prefix = if pass == 0 { 0 } else { k >> (64 - 16 * pass) };
            if let Ok(g) = groups.binary_search(&prefix) {
                hist[g][((k >> shift) & 0xFFFF) as usize] += 1;
            }
        })?;
        for s in &mut st {
            let Ok(g) = groups.binary_search(&s.0) else {
                continue;
            };
            let mut rest = s.1;
            let mut digit = 0xFFFF;
            for (d, &c) in hist[g].iter().enumerate() {
                if rest < c {
                    digit = d as u64;
                    break;
                }
                rest -= c;
            }
            *s = ((s.0 << 16) | digit, rest);
        }
    }
    Ok(st.into_iter().map(|(k, _)| from_key(k)).collect())
}

/// p50/p95/p99 of the `n` finite values spilled to `path`.
pub(crate) fn percentiles_from_file(path: &Path, n: u64) -> io::Result<[Option<f64>; 3]> {
    if n == 0 {
        return Ok([None; 3]);
    }
    let rs: Vec<(u64, u64, f64)> = QUANTILES.iter().map(|&q| ranks(n, q)).collect();
    let wanted: Vec<u64> = rs.iter().flat_map(|&(lo, hi, _)| [lo, hi]).collect();
    let got = select_from_file(path, n, &wanted)?;
    let mut out = [None; 3];
    for (i, &(_, _, frac)) in rs.iter().enumerate() {
        let (a, b) = (got[2 * i], got[2 * i + 1]);
        out[i] = Some(a + frac * (b - a));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::kpi::percentile_sorted;

    #[test]
    fn radix_select_from_a_spill_file_matches_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.f64");
        let mut vals: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1013) as f64 * 0.37 - 100.0)
            .collect();
        vals.extend([0.0, -0.0, 1e300, -1e300, 5.0, 5.0, 5.0]);
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).unwrap();
        let got = percentiles_from_file(&path, vals.len() as u64).unwrap();
        vals.sort_by(f64::total_cmp);
        for (i, q) in QUANTILES.iter().enumerate() {
            assert_eq!(got[i], percentile_sorted(&vals, *q));
        }
        let all: Vec<u64> = (0..vals.len() as u64).step_by(97).collect();
        let sel = select_from_file(&path, vals.len() as u64, &all).unwrap();
        for (r, v) in all.iter().zip(sel) {
            assert_eq!(vals[*r as usize], v);
        }
    }

    #[test]
    fn selection_in_memory_matches_sorting() {
        for n in [1usize, 2, 3, 10, 101, 1441] {
            let mut v: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1013) as f64 * 0.5).collect();
            let got = percentiles_in_place(&mut v.clone());
            v.sort_by(f64::total_cmp);
            for (i, q) in QUANTILES.iter().enumerate() {
                assert_eq!(got[i], percentile_sorted(&v, *q), "n={n} q={q}");
            }
        }
    }
}
