//! Drawing signal windows as anti-aliased traces on a plain background and saving them as PNG.

use std::io::BufWriter;
use std::path::Path;

use crate::error::{EcgError, Result};

/// How a trace maps onto the picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceStyle {
    /// Side of the square image in pixels.
    pub size: u32,
    /// Amplitude (mV, after baseline removal) drawn at the top edge.
    pub top_mv: f32,
    /// Amplitude drawn at the bottom edge.
    pub bottom_mv: f32,
    /// Line width in pixels.
    pub line_width: f32,
}

impl TraceStyle {
    /// The default style for a `size` pixel image: -1.5 mV to +2.5 mV, line width size/96 (>= 1).
    pub fn for_size(size: u32) -> TraceStyle {
        TraceStyle {
            size,
            top_mv: 2.5,
            bottom_mv: -1.5,
            line_width: (size as f32 / 96.0).max(1.0),
        }
    }
}

/// A rendered picture: `channels` planes of `size * size` bytes, row-major, 255 = background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeatImage {
    /// Side in pixels.
    pub size: u32,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Interleaved pixel bytes (`size * size * channels`).
    pub pixels: Vec<u8>,
}

/// Ink coverage (0..1) of one trace drawn over a `size` x `size` grid.
fn trace_coverage(values: &[f32], style: &TraceStyle) -> Vec<f32> {
    let size = style.size as usize;
    let mut ink = vec![0f32; size * size];
    if values.is_empty() {
        return ink;
    }
    let side = style.size as f32;
    let span = style.top_mv - style.bottom_mv;
    let half = style.line_width / 2.0;
    let n = values.len() as f32;
    let point = |j: usize| {
        let x = (j as f32 + 0.5) * side / n;
        let y = ((style.top_mv - values[j]) / span * side).clamp(0.0, side);
        (x, y)
    };
    let mut prev = point(0);
    for j in 0..values.len() {
        let next = if j + 1 < values.len() {
            point(j + 1)
        } else {
            prev
        };
        let (a, b) = (prev, next);
        let reach = half + 1.0;
        let x0 = (a.0.min(b.0) - reach).floor().max(0.0) as usize;
        let x1 = ((a.0.max(b.0) + reach).ceil() as usize).min(size);
        let y0 = (a.1.min(b.1) - reach).floor().max(0.0) as usize;
        let y1 = ((a.1.max(b.1) + reach).ceil() as usize).min(size);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for py in y0..y1 {
            for px in x0..x1 {
                let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
                let t = if len2 > 0.0 {
                    (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (ex, ey) = (a.0 + t * dx - cx, a.1 + t * dy - cy);
                let d = (ex * ex + ey * ey).sqrt();
                let cover = (half + 0.5 - d).clamp(0.0, 1.0);
                let cell = &mut ink[py * size + px];
                if cover > *cell {
                    *cell = cover;
                }
            }
        }
        prev = next;
    }
    ink
}

/// Draws each trace (one per lead, in mV) into its own channel: one trace gives a grayscale
/// image, two or three give RGB (an unused third channel stays background).
pub fn render_traces(traces: &[Vec<f32>], style: &TraceStyle) -> Result<BeatImage> {
    let channels = match traces.len() {
        1 => 1,
        2 | 3 => 3,
        n => {
            return Err(EcgError::Invalid(format!(
                "{n} leads: an image holds 1 to 3"
            )));
        }
    };
    let area = (style.size * style.size) as usize;
    let mut pixels = vec![255u8; area * channels];
    for (c, trace) in traces.iter().enumerate() {
        let ink = trace_coverage(trace, style);
        for (p, cover) in ink.iter().enumerate() {
            pixels[p * channels + c] = (255.0 * (1.0 - cover)).round() as u8;
        }
    }
    Ok(BeatImage {
        size: style.size,
        channels,
        pixels,
    })
}

impl BeatImage {
    /// Encodes the image as PNG bytes (deterministic: no timestamps or text chunks).
    pub fn to_png(&self, path_for_errors: &Path) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(BufWriter::new(&mut out), self.size, self.size);
            encoder.set_color(if self.channels == 1 {
                png::ColorType::Grayscale
            } else {
                png::ColorType::Rgb
            });
            encoder.set_depth(png::BitDepth::Eight);
            let png_err = |e: png::EncodingError| EcgError::Png {
                path: path_for_errors.to_path_buf(),
                message: e.to_string(),
            };
            let mut writer = encoder.write_header().map_err(png_err)?;
            writer.write_image_data(&self.pixels).map_err(png_err)?;
        }
        Ok(out)
    }

    /// Writes the image as a PNG file.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let bytes = self.to_png(path)?;
        std::fs::write(path, bytes).map_err(|e| EcgError::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_zero_trace_is_a_horizontal_line_at_the_zero_level() {
        let style = TraceStyle {
            size: 40,
            top_mv: 1.0,
            bottom_mv: -1.0,
            line_width: 2.0,
        };
        let img = render_traces(&[vec![0.0; 100]], &style).unwrap();
        assert_eq!(img.pixels.len(), 1600);
        let row = |y: usize| &img.pixels[y * 40..(y + 1) * 40];
        assert!(
            row(19).iter().all(|&p| p < 20),
            "row 19 is ink: {:?}",
            row(19)
        );
        assert!(row(20).iter().all(|&p| p < 20));
        assert!(row(5).iter().all(|&p| p == 255));
        assert!(row(35).iter().all(|&p| p == 255));
    }

    #[test]
    fn anti_aliasing_gives_intermediate_grays_on_slopes() {
        let style = TraceStyle::for_size(64);
        let ramp: Vec<f32> = (0..200).map(|i| -1.0 + i as f32 * 0.015).collect();
        let img = render_traces(&[ramp], &style).unwrap();
        assert!(img.pixels.iter().any(|&p| p > 30 && p < 220));
    }

    #[test]
    fn two_leads_fill_two_rgb_channels_and_four_are_refused() {
        let style = TraceStyle::for_size(32);
        let img = render_traces(&[vec![0.0; 50], vec![1.0; 50]], &style).unwrap();
        assert_eq!(img.channels, 3);
        assert!(img.pixels.chunks(3).all(|px| px[2] == 255));
        assert!(img.pixels.chunks(3).any(|px| px[0] < 200 && px[1] == 255));
        assert!(render_traces(&vec![vec![0.0; 5]; 4], &style).is_err());
    }

    #[test]
    fn png_encoding_is_deterministic_and_decodable() {
        let style = TraceStyle::for_size(48);
        let wave: Vec<f32> = (0..120).map(|i| (i as f32 / 9.0).sin()).collect();
        let img = render_traces(&[wave], &style).unwrap();
        let a = img.to_png(Path::new("x.png")).unwrap();
        assert_eq!(a, img.to_png(Path::new("x.png")).unwrap());
        let decoder = png::Decoder::new(std::io::Cursor::new(&a));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (48, 48));
        assert_eq!(&buf[..info.buffer_size()], &img.pixels[..]);
    }
}
