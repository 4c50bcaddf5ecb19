//! Small PNG charts (line and bar) drawn into an RGB buffer: enough for loss curves, throughput
//! and result bars, with no plotting or font dependency.

use super::font::glyph;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Series colours, in order.
pub const PALETTE: [Rgb; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];
const BLACK: Rgb = [30, 30, 30];
const GREY: Rgb = [200, 200, 200];

/// An RGB image being drawn.
#[derive(Debug, Clone)]
pub struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = (y as usize * self.w + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    /// The colour at (x, y).
    #[cfg(test)]
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.w + x) * 3;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }

    /// A filled rectangle.
    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.set(x, y, c);
            }
        }
    }

    /// A line two pixels wide.
    pub fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb) {
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as i64).max(1);
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            self.rect(x as i64, y as i64, x as i64 + 1, y as i64 + 1, c);
        }
    }

    /// Text with its top-left corner at (x, y), `scale` pixels per font pixel.
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        for (k, ch) in s.chars().enumerate() {
            let rows = glyph(ch);
            let ox = x + k as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (ox + col * scale, y + r as i64 * scale);
                        self.rect(px, py, px + scale - 1, py + scale - 1, c);
                    }
                }
            }
        }
    }

    /// Width in pixels of `s` at `scale`.
    pub fn text_width(s: &str, scale: i64) -> i64 {
        s.chars().count() as i64 * 6 * scale
    }

    /// The image as PNG bytes.
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().expect("PNG header into memory");
            w.write_image_data(&self.px).expect("PNG data into memory");
        }
        out
    }
}

/// Tick values: about five round numbers spanning [lo, hi].
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil();
    (0..)
        .map(|i| (first + i as f64) * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
        .collect()
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The plot area of a chart and its data ranges.
struct Frame {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
    xr: (f64, f64),
    yr: (f64, f64),
}

impl Frame {
    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let fx = (x - self.xr.0) / (self.xr.1 - self.xr.0).max(1e-12);
        let fy = (y - self.yr.0) / (self.yr.1 - self.yr.0).max(1e-12);
        (
            self.x0 + fx * (self.x1 - self.x0),
            self.y1 - fy * (self.y1 - self.y0),
        )
    }

    fn axes(&self, c: &mut Canvas, title: &str, x_label: &str, y_ticks: bool) {
        c.text(self.x0 as i64, 10, title, 2, BLACK);
        for t in ticks(self.yr.0, self.yr.1).into_iter().filter(|_| y_ticks) {
            let (_, y) = self.at(self.xr.0, t);
            c.line((self.x0, y), (self.x1, y), GREY);
            let s = label(t);
            c.text(
                self.x0 as i64 - Canvas::text_width(&s, 1) - 6,
                y as i64 - 3,
                &s,
                1,
                BLACK,
            );
        }
        c.line((self.x0, self.y0), (self.x0, self.y1), BLACK);
        c.line((self.x0, self.y1), (self.x1, self.y1), BLACK);
        let w = Canvas::text_width(x_label, 1);
        c.text(
            ((self.x0 + self.x1) / 2.0) as i64 - w / 2,
            self.y1 as i64 + 22,
            x_label,
            1,
            BLACK,
        );
    }
}

/// A line chart of named series of (x, y) points.
pub fn line_chart(title: &str, x_label: &str, series: &[(String, Vec<(f64, f64)>)]) -> Canvas {
    let mut c = Canvas::new(720, 420);
    let pts = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut xr, mut yr) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
    for (x, y) in pts {
        xr = (xr.0.min(*x), xr.1.max(*x));
        yr = (yr.0.min(*y), yr.1.max(*y));
    }
    if xr.0 > xr.1 {
        xr = (0.0, 1.0);
        yr = (0.0, 1.0);
    }
    let pad = ((yr.1 - yr.0) * 0.05).max(1e-6);
    let f = Frame {
        x0: 70.0,
        y0: 40.0,
        x1: 540.0,
        y1: 370.0,
        xr: (xr.0, xr.1.max(xr.0 + 1.0)),
        yr: (yr.0 - pad, yr.1 + pad),
    };
    f.axes(&mut c, title, x_label, true);
    for t in ticks(f.xr.0, f.xr.1) {
        let (x, _) = f.at(t, f.yr.0);
        let s = label(t);
        c.text(
            x as i64 - Canvas::text_width(&s, 1) / 2,
            f.y1 as i64 + 6,
            &s,
            1,
            BLACK,
        );
    }
    for (k, (name, p)) in series.iter().enumerate() {
        let col = PALETTE[k % PALETTE.len()];
        let good: Vec<&(f64, f64)> = p
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        for w in good.windows(2) {
            c.line(f.at(w[0].0, w[0].1), f.at(w[1].0, w[1].1), col);
        }
        let ly = 50 + k as i64 * 16;
        c.rect(555, ly, 570, ly + 6, col);
        c.text(576, ly, name, 1, BLACK);
    }
    c
}

/// A bar chart of named values (drawn from zero up).
pub fn bar_chart(title: &str, y_label: &str, bars: &[(String, f64)]) -> Canvas {
    let mut c = Canvas::new(720, 420);
    let top = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1e-9);
    let f = Frame {
        x0: 70.0,
        y0: 40.0,
        x1: 700.0,
        y1: 330.0,
        xr: (0.0, bars.len().max(1) as f64),
        yr: (0.0, top * 1.1),
    };
    f.axes(&mut c, title, y_label, true);
    for (k, (name, v)) in bars.iter().enumerate() {
        let col = PALETTE[k % PALETTE.len()];
        let (xa, ya) = f.at(k as f64 + 0.15, *v);
        let (xb, yb) = f.at(k as f64 + 0.85, 0.0);
        c.rect(xa as i64, ya as i64, xb as i64, yb as i64 - 1, col);
        let s = label(*v);
        c.text(xa as i64, ya as i64 - 10, &s, 1, BLACK);
        let short: String = name
            .chars()
            .take(((xb - xa) / 6.0).max(3.0) as usize)
            .collect();
        c.text(
            xa as i64,
            f.y1 as i64 + 6 + (k as i64 % 2) * 10,
            &short,
            1,
            BLACK,
        );
    }
    c
}

/// Bars in groups (one group per metric, one bar per series in the series' colour) with a
/// legend: `groups` holds each metric's name and its value in every series (`None` where a
/// series lacks it).
pub fn grouped_bar_chart(
    title: &str,
    y_label: &str,
    series: &[String],
    groups: &[(String, Vec<Option<f64>>)],
) -> Canvas {
    let mut c = Canvas::new(720, 420);
    let top = groups
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0f64, |a, b| a.max(*b))
        .max(1e-9);
    let f = Frame {
        x0: 70.0,
        y0: 40.0,
        x1: 560.0,
        y1: 330.0,
        xr: (0.0, groups.len().max(1) as f64),
        yr: (0.0, top * 1.1),
    };
    f.axes(&mut c, title, y_label, true);
    let n = series.len().max(1) as f64;
    for (g, (name, values)) in groups.iter().enumerate() {
        for (k, v) in values.iter().enumerate() {
            let Some(v) = v else { continue };
            let col = PALETTE[k % PALETTE.len()];
            let (xa, ya) = f.at(g as f64 + 0.1 + 0.8 * k as f64 / n, *v);
            let (xb, yb) = f.at(g as f64 + 0.1 + 0.8 * (k + 1) as f64 / n, 0.0);
            c.rect(xa as i64, ya as i64, xb as i64 - 1, yb as i64 - 1, col);
            c.text(xa as i64, ya as i64 - 10, &label(*v), 1, BLACK);
        }
        let (xa, _) = f.at(g as f64 + 0.1, 0.0);
        c.text(xa as i64, f.y1 as i64 + 6, name, 1, BLACK);
    }
    for (k, name) in series.iter().enumerate() {
        let ly = 50 + k as i64 * 16;
        c.rect(575, ly, 590, ly + 6, PALETTE[k % PALETTE.len()]);
        c.text(596, ly, name, 1, BLACK);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = ticks(0.0, 1.0);
        assert_eq!(t.len(), 6);
        for (a, b) in t.iter().zip([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]) {
            assert!((a - b).abs() < 1e-12, "{t:?}");
        }
        let t = ticks(3.1, 47.0);
        assert_eq!(t.first(), Some(&10.0));
        assert_eq!(t.last(), Some(&40.0));
        assert_eq!(ticks(2.0, 2.0), [2.0]);
    }

    #[test]
    fn charts_draw_their_series_and_encode_as_png() {
        let c = line_chart(
            "loss",
            "step",
            &[("itc".into(), vec![(0.0, 3.0), (10.0, 1.0)])],
        );
        // The series colour appears inside the plot area.
        let mut found = false;
        for y in 40..370 {
            for x in 70..540 {
                found |= c.get(x, y) == PALETTE[0];
            }
        }
        assert!(found);
        let png = bar_chart("r@1", "%", &[("a".into(), 0.5), ("b".into(), 0.25)]).png();
        assert_eq!(&png[1..4], b"PNG");
        let d = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        assert_eq!((d.info().width, d.info().height), (720, 420));
        // Grouped bars: each series in its own colour inside the plot.
        let g = grouped_bar_chart(
            "r@1",
            "%",
            &["a".into(), "b".into()],
            &[
                ("i2t".into(), vec![Some(2.0), Some(3.0)]),
                ("t2i".into(), vec![Some(1.0), None]),
            ],
        );
        for col in [PALETTE[0], PALETTE[1]] {
            let inside = (40..330).any(|y| (70..560).any(|x| g.get(x, y) == col));
            assert!(inside);
        }
    }
}
