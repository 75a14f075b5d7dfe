//! Line charts: fitness per tournament, loss and accuracy per epoch, reliability diagrams, ROC
//! curves.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::figure::{DrawResult, FONT, Figure, GRID, INK, PALETTE, color};

/// One line of a chart. A series whose points are all the same point is drawn as a dot (an
/// operating point on a ROC curve, say).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points (x, y), drawn in order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    fn finite_points(&self) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect()
    }
}

/// A line chart (520 x 330 pixels) with axes, grid, axis titles and a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Title of the x axis.
    pub x_label: String,
    /// Title of the y axis.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Fixed y range; by default the data's range with a margin.
    pub y_range: Option<(f64, f64)>,
}

/// `[lo, hi]` widened to a non-empty range.
fn non_empty((lo, hi): (f64, f64), pad: f64) -> (f64, f64) {
    if hi > lo {
        (lo - pad * (hi - lo), hi + pad * (hi - lo))
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

impl LineChart {
    /// The x and y ranges the chart shows.
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let all: Vec<(f64, f64)> = self.series.iter().flat_map(Series::finite_points).collect();
        if all.is_empty() {
            return ((0.0, 1.0), self.y_range.unwrap_or((0.0, 1.0)));
        }
        let span = |f: fn(&(f64, f64)) -> f64| {
            all.iter()
                .map(f)
                .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)))
        };
        let x = non_empty(span(|p| p.0), 0.0);
        let y = self
            .y_range
            .map_or_else(|| non_empty(span(|p| p.1), 0.05), |r| non_empty(r, 0.0));
        (x, y)
    }

    /// The corner of the plot with the fewest points near it, where the legend hides least.
    pub(crate) fn legend_corner(
        &self,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
    ) -> SeriesLabelPosition {
        let near = |right: bool, top: bool| {
            self.series
                .iter()
                .flat_map(Series::finite_points)
                .filter(|&(x, y)| {
                    let (fx, fy) = ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0));
                    (if right { fx > 0.55 } else { fx < 0.45 })
                        && (if top { fy > 0.6 } else { fy < 0.4 })
                })
                .count()
        };
        [
            (near(true, false), SeriesLabelPosition::LowerRight),
            (near(true, true), SeriesLabelPosition::UpperRight),
            (near(false, false), SeriesLabelPosition::LowerLeft),
            (near(false, true), SeriesLabelPosition::UpperLeft),
        ]
        .into_iter()
        .min_by_key(|(count, _)| *count)
        .map_or(SeriesLabelPosition::LowerRight, |(_, corner)| corner)
    }
}

impl Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        (520, 330)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 21).into_font().color(&color(INK)))
            .margin(10)
            .x_label_area_size(46)
            .y_label_area_size(66)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        // Ticks as written by hand: 10, not 10.0; 0.25, not 0.25000000000000006.
        let tick = |v: &f64| format!("{}", (v * 1e6).round() / 1e6);
        chart
            .configure_mesh()
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 15).into_font().color(&color(INK)))
            .axis_desc_style((FONT, 16).into_font().color(&color(INK)))
            .bold_line_style(color(GRID))
            .light_line_style(color(GRID).mix(0.35))
            .axis_style(color(INK))
            .draw()?;
        for (i, s) in self.series.iter().enumerate() {
            let rgb = color(PALETTE[i % PALETTE.len()]);
            let points: Vec<(f64, f64)> = s
                .finite_points()
                .into_iter()
                .map(|(x, y)| (x, y.clamp(y0, y1)))
                .collect();
            let is_dot = points.windows(2).all(|w| w[0] == w[1]);
            let drawn = if is_dot {
                chart.draw_series(
                    points
                        .iter()
                        .take(1)
                        .map(|&p| Circle::new(p, 5, rgb.filled())),
                )?
            } else {
                chart.draw_series(LineSeries::new(points, rgb.stroke_width(2)))?
            };
            drawn.label(&s.name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], rgb.stroke_width(3))
            });
        }
        if !self.series.is_empty() {
            chart
                .configure_series_labels()
                .position(self.legend_corner((x0, x1), (y0, y1)))
                .label_font((FONT, 15).into_font().color(&color(INK)))
                .background_style(WHITE.mix(0.85))
                .border_style(color(GRID))
                .draw()?;
        }
        Ok(())
    }
}
