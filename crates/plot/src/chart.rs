//! Line charts: fitness per tournament, loss and accuracy per epoch.

use crate::canvas::{Canvas, GRID, INK, PALETTE, Rgb};

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points (x, y), drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with axes, ticks and a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label of the y axis (written above it).
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Fixed y range; by default the data's range.
    pub y_range: Option<(f64, f64)>,
}

/// The distance between consecutive ticks (1 when there are fewer than two).
fn tick_step(ticks: &[f64]) -> f64 {
    ticks.windows(2).map(|w| w[1] - w[0]).next().unwrap_or(1.0)
}

/// Round tick positions covering [lo, hi].
pub fn ticks(lo: f64, hi: f64, wanted: usize) -> Vec<f64> {
    let span = (hi - lo).abs().max(1e-12);
    let raw = span / wanted.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label with as many decimals as the tick spacing `step` needs.
pub(crate) fn label(v: f64, step: f64) -> String {
    let mut decimals = 0usize;
    while decimals < 6
        && ((step * 10f64.powi(decimals as i32)).round() - step * 10f64.powi(decimals as i32)).abs()
            > 1e-6
    {
        decimals += 1;
    }
    format!("{v:.decimals$}")
}

impl LineChart {
    /// Draws the chart on a `width x height` canvas.
    pub fn render(&self, width: usize, height: usize) -> Canvas {
        let mut c = Canvas::new(width, height);
        let (left, right, top, bottom) = (70i64, 20i64, 50i64, 50i64);
        let (pw, ph) = (width as i64 - left - right, height as i64 - top - bottom);
        c.text_centered(width as i64 / 2, 12, &self.title, 2, INK);
        let all: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let (mut x0, mut x1) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (mut y0, mut y1) = self.y_range.unwrap_or_else(|| {
            all.iter()
                .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)))
        });
        if all.is_empty() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if y1 <= y0 {
            (y0, y1) = (y0 - 0.5, y1 + 0.5);
        }
        let px = |x: f64| left as f64 + (x - x0) / (x1 - x0) * pw as f64;
        let py = |y: f64| (top + ph) as f64 - (y - y0) / (y1 - y0) * ph as f64;
        let y_ticks = ticks(y0, y1, 5);
        let y_step = tick_step(&y_ticks);
        for t in y_ticks {
            let y = py(t);
            c.line((left as f64, y), ((left + pw) as f64, y), 1, GRID);
            let text = label(t, y_step);
            c.text(
                left - 6 - Canvas::text_width(&text, 1),
                y as i64 - 4,
                &text,
                1,
                INK,
            );
        }
        let x_ticks = ticks(x0, x1, 6);
        let x_step = tick_step(&x_ticks);
        for t in x_ticks {
            let x = px(t);
            c.line((x, (top + ph) as f64), (x, (top + ph + 4) as f64), 1, INK);
            c.text_centered(x as i64, top + ph + 8, &label(t, x_step), 1, INK);
        }
        c.line(
            (left as f64, top as f64),
            (left as f64, (top + ph) as f64),
            1,
            INK,
        );
        c.line(
            (left as f64, (top + ph) as f64),
            ((left + pw) as f64, (top + ph) as f64),
            1,
            INK,
        );
        c.text_centered(left + pw / 2, height as i64 - 18, &self.x_label, 1, INK);
        c.text(8, top - 16, &self.y_label, 1, INK);
        for (i, s) in self.series.iter().enumerate() {
            let color: Rgb = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|&(x, y)| (px(x), py(y.clamp(y0, y1))))
                .collect();
            for w in points.windows(2) {
                c.line(w[0], w[1], 2, color);
            }
            if points.len() == 1 {
                c.fill(points[0].0 as i64 - 2, points[0].1 as i64 - 2, 5, 5, color);
            }
            let ly = top + 8 + i as i64 * 14;
            let lx = left + pw - 10 - Canvas::text_width(&s.name, 1) - 24;
            c.fill(lx, ly + 3, 18, 3, color);
            c.text(lx + 24, ly, &s.name, 1, INK);
        }
        c
    }
}
