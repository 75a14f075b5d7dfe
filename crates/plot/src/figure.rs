//! What every figure shares: the [`Figure`] trait (draw once, get SVG and PNG), the colours, the
//! embedded font, and [`Raster`], a plain RGB picture for images that are computed pixel by
//! pixel.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

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

/// The font family every figure writes in. PNG text is drawn with DejaVu Sans, embedded in the
/// binary (so the same pictures come out on every machine, with or without system fonts); SVG
/// text names the family and is drawn by the viewer.
pub const FONT: &str = "sans-serif";

/// Errors drawing or writing a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The drawing library failed (a figure too small for its content, for example).
    #[error("drawing the figure: {0}")]
    Draw(String),
    /// The figure could not be written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// The error type of drawing on backend `DB`.
pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The plotters colour of an [`Rgb`].
pub fn color(rgb: Rgb) -> RGBColor {
    RGBColor(rgb[0], rgb[1], rgb[2])
}

/// Linear interpolation between two colours, `t` in [0, 1].
pub fn mix(a: Rgb, b: Rgb, t: f64) -> Rgb {
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|i| (f64::from(a[i]) + (f64::from(b[i]) - f64::from(a[i])) * t).round() as u8)
}

/// Registers the embedded DejaVu Sans as [`FONT`] for raster output (once per process).
fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The bytes are a font file shipped with the `dejavu` crate; they always parse.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A picture drawn with plotters, on any backend: the same drawing code makes the SVG (crisp,
/// selectable text, embedded in reports) and the PNG.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);

    /// Draws the figure on `root`, which is [`Figure::size`] large and already white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;

    /// Whether the figure is worth an SVG: false for sheets of photographs, which would be one
    /// rectangle per pixel in SVG.
    fn has_vector_form(&self) -> bool {
        true
    }

    /// The figure as an SVG document.
    fn to_svg(&self) -> Result<String, PlotError> {
        register_fonts();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size()).into_drawing_area();
            draw_on(self, &root)?;
        }
        Ok(svg)
    }

    /// The figure as an RGB picture.
    fn to_raster(&self) -> Result<Raster, PlotError> {
        register_fonts();
        let (w, h) = self.size();
        let mut buffer = vec![255u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
            draw_on(self, &root)?;
        }
        Ok(Raster {
            width: w as usize,
            height: h as usize,
            pixels: buffer.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        })
    }

    /// Writes the figure to `png` and, when it has a vector form, the same figure as SVG beside
    /// it (same name, `.svg`). Both are written to a temporary name and renamed.
    fn save(&self, png: &Path) -> Result<(), PlotError> {
        if self.has_vector_form() {
            write_atomic(&png.with_extension("svg"), self.to_svg()?.as_bytes())?;
        }
        self.to_raster()?.save(png)
    }
}

fn draw_on<F: Figure + ?Sized, DB: DrawingBackend>(
    figure: &F,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), PlotError> {
    let draw = |e: DrawingAreaErrorKind<DB::ErrorType>| PlotError::Draw(e.to_string());
    root.fill(&color(WHITE)).map_err(draw)?;
    figure.draw(root).map_err(draw)?;
    root.present().map_err(draw)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let fail = |e: std::io::Error| PlotError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, bytes).map_err(fail)?;
    std::fs::rename(&partial, path).map_err(fail)
}

/// A plain RGB picture, row-major: for images computed pixel by pixel (generated test pictures,
/// heat overlays) and for what [`Figure::to_raster`] draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major pixels.
    pub pixels: Vec<Rgb>,
}

impl Raster {
    /// A picture whose pixel (x, y) is `pixel(x, y)`.
    pub fn from_fn(width: usize, height: usize, pixel: impl Fn(usize, usize) -> Rgb) -> Raster {
        Raster {
            width,
            height,
            pixels: (0..height)
                .flat_map(|y| (0..width).map(move |x| (x, y)))
                .map(|(x, y)| pixel(x, y))
                .collect(),
        }
    }

    /// The pixels as interleaved RGB bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.pixels.iter().flatten().copied().collect()
    }

    /// The picture scaled to `width x height` by nearest neighbour.
    pub fn resized(&self, width: usize, height: usize) -> Raster {
        Raster::from_fn(width, height, |x, y| {
            self.pixels
                [(y * self.height / height.max(1)) * self.width + x * self.width / width.max(1)]
        })
    }

    /// The picture as PNG bytes.
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        let fail = |e: png::EncodingError| PlotError::Draw(format!("PNG encoding: {e}"));
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(fail)?;
            writer.write_image_data(&self.bytes()).map_err(fail)?;
        }
        Ok(out)
    }

    /// Writes the picture to `path` as PNG (atomically).
    pub fn save(&self, path: &Path) -> Result<(), PlotError> {
        write_atomic(path, &self.to_png()?)
    }
}
