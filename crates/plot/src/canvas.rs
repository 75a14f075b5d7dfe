//! An RGB raster with lines, rectangles and 8x8 bitmap text, saved as PNG.

use std::path::Path;

use font8x8::UnicodeFonts;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// White.
pub const WHITE: Rgb = [255, 255, 255];
/// Near-black, for text and axes.
pub const INK: Rgb = [30, 30, 30];
/// Light gray, for grid lines.
pub const GRID: Rgb = [225, 225, 225];
/// Distinct series colours (colour-blind-safe Okabe-Ito order).
pub const PALETTE: [Rgb; 6] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
];

/// Errors writing a figure.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PlotError {
    /// The file.
    pub path: std::path::PathBuf,
    /// What failed.
    pub reason: String,
}

/// A picture being drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major pixels.
    pub pixels: Vec<Rgb>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![WHITE; width * height],
        }
    }

    /// Sets one pixel (ignored outside the canvas).
    pub fn put(&mut self, x: i64, y: i64, color: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[y as usize * self.width + x as usize] = color;
        }
    }

    /// Fills a rectangle.
    pub fn fill(&mut self, x: i64, y: i64, w: i64, h: i64, color: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, color);
            }
        }
    }

    /// Outlines a rectangle with a line `thickness` pixels wide.
    pub fn frame(&mut self, x: i64, y: i64, w: i64, h: i64, thickness: i64, color: Rgb) {
        self.fill(x, y, w, thickness, color);
        self.fill(x, y + h - thickness, w, thickness, color);
        self.fill(x, y, thickness, h, color);
        self.fill(x + w - thickness, y, thickness, h, color);
    }

    /// A straight line `thickness` pixels wide.
    pub fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), thickness: i64, color: Rgb) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        let half = thickness / 2;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let x = (x0 + (x1 - x0) * t).round() as i64;
            let y = (y0 + (y1 - y0) * t).round() as i64;
            self.fill(x - half, y - half, thickness, thickness, color);
        }
    }

    /// Writes `text` with its top-left corner at (x, y), each glyph 8 x `scale` pixels.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, color: Rgb) {
        for (i, ch) in text.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS
                .get(ch)
                .or_else(|| font8x8::BASIC_FONTS.get('?'))
                .unwrap_or([0; 8]);
            let gx = x + i as i64 * 8 * scale;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.fill(
                            gx + col * scale,
                            y + row as i64 * scale,
                            scale,
                            scale,
                            color,
                        );
                    }
                }
            }
        }
    }

    /// Width in pixels of `text` at `scale`.
    pub fn text_width(text: &str, scale: i64) -> i64 {
        text.chars().count() as i64 * 8 * scale
    }

    /// Writes `text` centred on x.
    pub fn text_centered(&mut self, x: i64, y: i64, text: &str, scale: i64, color: Rgb) {
        self.text(
            x - Canvas::text_width(text, scale) / 2,
            y,
            text,
            scale,
            color,
        );
    }

    /// Copies an RGB image (`w x h`, row-major) with its top-left corner at (x, y), scaled to
    /// `tw x th` by nearest neighbour.
    pub fn blit(
        &mut self,
        (x, y): (i64, i64),
        image: &[Rgb],
        (w, h): (usize, usize),
        (tw, th): (usize, usize),
    ) {
        for ty in 0..th {
            for tx in 0..tw {
                let sx = tx * w / tw.max(1);
                let sy = ty * h / th.max(1);
                self.put(x + tx as i64, y + ty as i64, image[sy * w + sx]);
            }
        }
    }

    /// The picture as PNG bytes.
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().expect("writing to memory");
            let flat: Vec<u8> = self.pixels.iter().flatten().copied().collect();
            writer.write_image_data(&flat).expect("writing to memory");
        }
        out
    }

    /// Writes the picture to `path` as PNG.
    pub fn save(&self, path: &Path) -> Result<(), PlotError> {
        std::fs::write(path, self.to_png()).map_err(|e| PlotError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// Linear interpolation between two colours, `t` in [0, 1].
pub fn mix(a: Rgb, b: Rgb, t: f64) -> Rgb {
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|i| (f64::from(a[i]) + (f64::from(b[i]) - f64::from(a[i])) * t).round() as u8)
}
