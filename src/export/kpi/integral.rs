//! The integral of a gauge over time, for energy from power.

use super::Sum;

/// The trapezoid integral of a gauge over time (value × seconds: watts → joules) over its
/// finite samples, linear between them; two accumulators of adjacent time ranges combine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Integral {
    first: Option<(i64, f64)>,
    last: Option<(i64, f64)>,
    /// Value × milliseconds.
    area: Sum,
}

impl Integral {
    pub(crate) fn push(&mut self, ms: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        match self.last {
            Some((t0, v0)) => self.area.add((v0 + v) / 2.0 * (ms - t0) as f64),
            None => self.first = Some((ms, v)),
        }
        self.last = Some((ms, v));
    }

    /// Appends the accumulator of the time range right after this one.
    pub(crate) fn append(&mut self, later: &Integral) {
        if let (Some((t0, v0)), Some((t1, v1))) = (self.last, later.first) {
            self.area.add((v0 + v1) / 2.0 * (t1 - t0) as f64);
        }
        if self.first.is_none() {
            self.first = later.first;
        }
        self.area.add(later.area.value());
        if later.last.is_some() {
            self.last = later.last;
        }
    }

    /// Value × seconds; `None` without a finite sample.
    pub(crate) fn value(&self) -> Option<f64> {
        self.first.map(|_| self.area.value() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integral_is_the_trapezoid_area_across_chunks() {
        // 100 W then 300 W 10 s later, then 300 W for another 10 s: 2000 + 3000 J.
        let (mut a, mut b) = (Integral::default(), Integral::default());
        a.push(0, 100.0);
        a.push(10_000, 300.0);
        b.push(20_000, 300.0);
        b.push(25_000, f64::NAN);
        a.append(&b);
        assert_eq!(a.value(), Some(5000.0));
        assert_eq!(Integral::default().value(), None);
    }
}
