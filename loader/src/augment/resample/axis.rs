//! One axis' fixed-point weights, rebuilt in place for every resize.

use super::Filter;

/// Biggest precision tried (bits after the binary point).
const MAX_PRECISION: u8 = 32 - 8 - 2;
/// Weights are `i16`: the biggest must stay below 2^15.
const WEIGHT_LIMIT: i32 = 1 << 15;
/// Rows of weights are zero-padded to a multiple of this many taps, so the SIMD loops can read
/// whole groups (pairs, or eights for grey rows).
pub(super) const TAP_GROUP: usize = 8;

/// Output pixel `i` reads `len[i]` inputs from `start[i]` with the weights at
/// `coefs[i * stride..][..len[i]]` (zeros after them up to `stride`).
#[derive(Debug, Default)]
pub(super) struct Axis {
    start: Vec<u32>,
    len: Vec<u32>,
    coefs: Vec<i16>,
    stride: usize,
    /// Fixed-point precision of the weights.
    pub precision: u8,
    weights: Vec<f64>,
    /// [`Axis::reach`] for fours and for eights.
    reach: (usize, usize),
}

impl Axis {
    /// Rebuilds the table for resampling `[in0, in1)` of an axis of `in_size` inputs to `out`.
    pub fn compute(&mut self, in_size: u32, in0: f64, in1: f64, out: u32, filter: Filter) {
        let scale = (in1 - in0) / out as f64;
        let filter_scale = scale.max(1.0);
        let radius = filter.support() * filter_scale;
        let window = radius.ceil() as usize * 2 + 1;
        let recip = 1.0 / filter_scale;
        self.stride = window.div_ceil(TAP_GROUP) * TAP_GROUP;
        self.start.clear();
        self.len.clear();
        self.weights.clear();
        self.weights.resize(window * out as usize, 0.0);
        for (i, w) in self.weights.chunks_exact_mut(window).enumerate() {
            let centre = in0 + (i as f64 + 0.5) * scale;
            let lo = (centre - radius).floor().max(0.0) as u32;
            let hi = (centre + radius).ceil().min(in_size as f64) as u32;
            let (start, len) = weigh(w, lo, hi, centre - 0.5, recip, filter);
            self.start.push(start);
            self.len.push(len);
        }
        let max = self.weights.iter().copied().fold(0.0f64, f64::max);
        self.precision = precision_for(max);
        let unit = f64::from(1u32 << self.precision);
        self.coefs.clear();
        self.coefs.resize(self.stride * out as usize, 0);
        for ((row, w), &len) in self
            .coefs
            .chunks_exact_mut(self.stride)
            .zip(self.weights.chunks_exact(window))
            .zip(&self.len)
        {
            for (c, &v) in row.iter_mut().zip(&w[..len as usize]) {
                *c = (v * unit).round() as i16;
            }
        }
        self.update_reach();
    }

    /// The first input and the weights of output `i`.
    pub fn taps(&self, i: usize) -> (usize, &[i16]) {
        let len = self.len[i] as usize;
        (
            self.start[i] as usize,
            &self.coefs[i * self.stride..][..len],
        )
    }

    /// The first input and the zero-padded row of weights of output `i`.
    pub fn padded(&self, i: usize) -> (usize, usize, &[i16]) {
        let row = &self.coefs[i * self.stride..][..self.stride];
        (self.start[i] as usize, self.len[i] as usize, row)
    }

    /// Outputs on this axis.
    pub fn outputs(&self) -> usize {
        self.start.len()
    }

    /// The inputs any output reads: `[first, end)`.
    pub fn span(&self) -> (u32, u32) {
        let first = self.start.iter().copied().min().unwrap_or(0);
        let end = self
            .start
            .iter()
            .zip(&self.len)
            .map(|(s, l)| s + l)
            .max()
            .unwrap_or(0);
        (first, end.max(first))
    }

    /// The end of the furthest read when every output's taps are read in whole groups of
    /// `group` (a power of two) from its start.
    pub fn reach(&self, group: usize) -> usize {
        match group {
            4 => self.reach.0,
            TAP_GROUP => self.reach.1,
            _ => unreachable!("taps are read in fours or eights"),
        }
    }

    fn update_reach(&mut self) {
        let reach = |group: usize| {
            self.start
                .iter()
                .zip(&self.len)
                .map(|(&s, &l)| s as usize + (l as usize).next_multiple_of(group))
                .max()
                .unwrap_or(0)
        };
        self.reach = (reach(4), reach(TAP_GROUP));
    }

    /// Makes the starts relative to input `origin`.
    pub fn shift(&mut self, origin: u32) {
        self.start.iter_mut().for_each(|s| *s -= origin);
        self.update_reach();
    }
}

/// Fills `w` with the normalised weights of inputs `lo..hi` around `centre` and returns the
/// first input and the count once zero weights at either end are dropped.
fn weigh(w: &mut [f64], lo: u32, hi: u32, centre: f64, recip: f64, f: Filter) -> (u32, u32) {
    let mut start = lo;
    let mut n = 0;
    let mut sum = 0.0;
    for x in lo..hi {
        let v = f.weight((x as f64 - centre) * recip);
        if x == start && v == 0.0 {
            start += 1;
        } else {
            w[n] = v;
            n += 1;
            sum += v;
        }
    }
    while n > 0 && w[n - 1] == 0.0 {
        n -= 1;
    }
    if sum != 0.0 {
        w[..n].iter_mut().for_each(|v| *v /= sum);
    }
    (start, n as u32)
}

/// The most bits after the point with which `max` still rounds below 2^15.
fn precision_for(max: f64) -> u8 {
    let mut precision = 0;
    for p in 0..MAX_PRECISION {
        precision = p;
        if (max * f64::from(1u32 << (p + 1))).round() as i32 >= WEIGHT_LIMIT {
            break;
        }
    }
    precision
}

#[cfg(test)]
impl Axis {
    /// Where the tables live and how big they are, to see that they are reused.
    pub fn capacities(&self) -> [(usize, usize); 4] {
        [
            (self.start.as_ptr() as usize, self.start.capacity()),
            (self.len.as_ptr() as usize, self.len.capacity()),
            (self.coefs.as_ptr() as usize, self.coefs.capacity()),
            (self.weights.as_ptr() as usize, self.weights.capacity()),
        ]
    }
}
