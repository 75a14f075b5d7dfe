//! Figures other than line charts: confusion matrices, path grids, sheets of example images and
//! single captioned images.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::figure::{DrawResult, FONT, Figure, INK, PALETTE, Raster, Rgb, WHITE, color, mix};

/// A text style of `size` pixels in `rgb`, anchored at `(h, v)`.
fn text_style(size: u32, rgb: Rgb, (h, v): (HPos, VPos)) -> TextStyle<'static> {
    (FONT, size)
        .into_font()
        .color(&color(rgb))
        .pos(Pos::new(h, v))
}

/// A rough width in pixels of `text` at 16 px (DejaVu Sans averages about 0.6 em per glyph),
/// for laying out margins before a backend exists.
fn text_width(text: &str) -> i32 {
    (text.chars().count() as f64 * 9.5).ceil() as i32
}

/// Draws `text` at `at`.
fn label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    at: (i32, i32),
    style: &TextStyle<'_>,
) -> DrawResult<DB> {
    root.draw(&Text::new(text.to_string(), at, style.clone()))
}

/// Fills the rectangle with corners `a` and `b`.
fn block<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    rgb: Rgb,
) -> DrawResult<DB> {
    root.draw(&Rectangle::new([a, b], color(rgb).filled()))
}

/// Outlines the rectangle with corners `a` and `b` with a line `width` pixels wide.
fn outline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    width: u32,
    rgb: Rgb,
) -> DrawResult<DB> {
    root.draw(&Rectangle::new([a, b], color(rgb).stroke_width(width)))
}

/// A confusion matrix as a heat map: colour by row share (recall), each cell with its count
/// and share. Rows are true classes, columns predicted ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionHeatmap {
    /// Title above the matrix.
    pub title: String,
    /// Class names, in row (and column) order.
    pub classes: Vec<String>,
    /// Counts: `matrix[true][predicted]`.
    pub matrix: Vec<Vec<usize>>,
}

/// The [`ConfusionHeatmap`] of `matrix`.
pub fn confusion_heatmap(
    title: &str,
    classes: &[String],
    matrix: &[Vec<usize>],
) -> ConfusionHeatmap {
    ConfusionHeatmap {
        title: title.into(),
        classes: classes.to_vec(),
        matrix: matrix.to_vec(),
    }
}

impl ConfusionHeatmap {
    fn cell(&self) -> i32 {
        (360 / self.classes.len().max(1)).clamp(48, 120) as i32
    }

    fn left(&self) -> i32 {
        self.classes
            .iter()
            .map(|c| text_width(c))
            .max()
            .unwrap_or(8)
            + 56
    }
}

impl Figure for ConfusionHeatmap {
    fn size(&self) -> (u32, u32) {
        let k = self.classes.len().max(1) as i32;
        let width = (self.left() + self.cell() * k + 24).max(320);
        (width as u32, (76 + self.cell() * k + 48) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (k, cell, left, top) = (self.classes.len() as i32, self.cell(), self.left(), 76);
        let centre = (HPos::Center, VPos::Center);
        let (width, _) = self.size();
        label(
            root,
            &self.title,
            (width as i32 / 2, 18),
            &text_style(20, INK, centre),
        )?;
        label(
            root,
            "predicted",
            (left + cell * k / 2, 52),
            &text_style(16, INK, centre),
        )?;
        let rotated = text_style(16, INK, centre).transform(FontTransform::Rotate270);
        label(root, "true", (14, top + cell * k / 2), &rotated)?;
        let dark: Rgb = [8, 48, 107];
        for (r, row) in self.matrix.iter().enumerate() {
            let r = r as i32;
            let total: usize = row.iter().sum();
            let name = self.classes.get(r as usize).map_or("?", String::as_str);
            let right = (HPos::Right, VPos::Center);
            label(
                root,
                name,
                (left - 8, top + r * cell + cell / 2),
                &text_style(16, INK, right),
            )?;
            for (c, &count) in row.iter().enumerate() {
                let share = if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64
                };
                let (x, y) = (left + c as i32 * cell, top + r * cell);
                block(
                    root,
                    (x, y),
                    (x + cell, y + cell),
                    mix([247, 251, 255], dark, share),
                )?;
                let ink = if share > 0.5 { WHITE } else { INK };
                let middle = (x + cell / 2, y + cell / 2);
                label(
                    root,
                    &count.to_string(),
                    (middle.0, middle.1 - 10),
                    &text_style(18, ink, centre),
                )?;
                let percent = format!("{:.0}%", share * 100.0);
                label(
                    root,
                    &percent,
                    (middle.0, middle.1 + 11),
                    &text_style(15, ink, centre),
                )?;
            }
        }
        for (c, name) in self.classes.iter().enumerate() {
            let at = (left + c as i32 * cell + cell / 2, top + k * cell + 14);
            label(root, name, at, &text_style(16, INK, centre))?;
        }
        Ok(())
    }
}

/// One task's path for [`path_grid`].
#[derive(Debug, Clone, PartialEq)]
pub struct PathMark {
    /// Task name (legend).
    pub task: String,
    /// Active modules per layer.
    pub path: Vec<Vec<usize>>,
}

/// The L x M module grid of the super-network: each task's modules filled in its colour (a
/// module two tasks share is split between their colours), frozen modules outlined thick.
#[derive(Debug, Clone, PartialEq)]
pub struct PathGrid {
    /// Layers of the network.
    pub layers: usize,
    /// Modules per layer.
    pub modules: usize,
    /// Every task's path.
    pub tasks: Vec<PathMark>,
    /// `frozen[layer][module]`: whether the module's weights are frozen.
    pub frozen: Vec<Vec<bool>>,
}

/// The [`PathGrid`] of a network.
pub fn path_grid(
    layers: usize,
    modules: usize,
    tasks: &[PathMark],
    frozen: &[Vec<bool>],
) -> PathGrid {
    PathGrid {
        layers,
        modules,
        tasks: tasks.to_vec(),
        frozen: frozen.to_vec(),
    }
}

const PATH_CELL: i32 = 40;
const PATH_GAP: i32 = 8;
const PATH_LEFT: i32 = 90;
const PATH_TOP: i32 = 56;

impl PathGrid {
    fn users(&self, layer: usize, module: usize) -> Vec<usize> {
        (0..self.tasks.len())
            .filter(|&t| {
                self.tasks[t]
                    .path
                    .get(layer)
                    .is_some_and(|ms| ms.contains(&module))
            })
            .collect()
    }

    fn is_frozen(&self, layer: usize, module: usize) -> bool {
        self.frozen
            .get(layer)
            .and_then(|f| f.get(module))
            .copied()
            .unwrap_or(false)
    }
}

impl Figure for PathGrid {
    fn size(&self) -> (u32, u32) {
        let step = PATH_CELL + PATH_GAP;
        let width = (PATH_LEFT + self.modules as i32 * step + 20).max(460);
        let height =
            PATH_TOP + self.layers as i32 * step + 16 + self.tasks.len().max(1) as i32 * 20;
        (width as u32, height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let centre = (HPos::Center, VPos::Center);
        let (width, _) = self.size();
        let step = PATH_CELL + PATH_GAP;
        label(
            root,
            "paths: layers x modules",
            (width as i32 / 2, 20),
            &text_style(20, INK, centre),
        )?;
        for l in 0..self.layers {
            let y = PATH_TOP + l as i32 * step;
            let kind = if l == 0 { "conv" } else { "fc" };
            let row_name = format!("L{} {kind}", l + 1);
            let left_centre = (HPos::Left, VPos::Center);
            label(
                root,
                &row_name,
                (8, y + PATH_CELL / 2),
                &text_style(16, INK, left_centre),
            )?;
            for m in 0..self.modules {
                let x = PATH_LEFT + m as i32 * step;
                block(
                    root,
                    (x, y),
                    (x + PATH_CELL, y + PATH_CELL),
                    [245, 245, 245],
                )?;
                let users = self.users(l, m);
                for (j, &t) in users.iter().enumerate() {
                    let share = PATH_CELL / users.len() as i32;
                    let x = x + j as i32 * share;
                    block(
                        root,
                        (x, y),
                        (x + share, y + PATH_CELL),
                        PALETTE[t % PALETTE.len()],
                    )?;
                }
                let thickness = if self.is_frozen(l, m) { 4 } else { 1 };
                outline(root, (x, y), (x + PATH_CELL, y + PATH_CELL), thickness, INK)?;
                let ink = if users.is_empty() { INK } else { WHITE };
                let middle = (x + PATH_CELL / 2, y + PATH_CELL / 2);
                label(root, &m.to_string(), middle, &text_style(15, ink, centre))?;
            }
        }
        let legend_top = PATH_TOP + self.layers as i32 * step + 8;
        let left_top = (HPos::Left, VPos::Top);
        for (i, t) in self.tasks.iter().enumerate() {
            let y = legend_top + i as i32 * 20;
            block(
                root,
                (PATH_LEFT, y),
                (PATH_LEFT + 14, y + 14),
                PALETTE[i % PALETTE.len()],
            )?;
            label(
                root,
                &t.task,
                (PATH_LEFT + 20, y),
                &text_style(15, INK, left_top),
            )?;
        }
        let note = (PATH_LEFT + 200, legend_top);
        label(
            root,
            "thick frame = frozen",
            note,
            &text_style(15, INK, left_top),
        )
    }
}

/// One tile of an image sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// Caption under the image.
    pub caption: String,
    /// The image.
    pub image: Raster,
    /// Whether the caption marks a correct prediction (green) or a wrong one (red).
    pub correct: bool,
}

/// A grid of example images with captions, `columns` per row, each shown at `side` pixels.
/// Photographs have no vector form: it is written as PNG only.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSheet {
    /// Title above the grid.
    pub title: String,
    /// The images.
    pub tiles: Vec<Tile>,
    /// Images per row.
    pub columns: usize,
    /// Side of each shown image in pixels.
    pub side: usize,
}

/// The [`ImageSheet`] of `tiles`.
pub fn image_sheet(title: &str, tiles: &[Tile], columns: usize, side: usize) -> ImageSheet {
    ImageSheet {
        title: title.into(),
        tiles: tiles.to_vec(),
        columns: columns.max(1),
        side: side.max(8),
    }
}

impl ImageSheet {
    fn tile_size(&self) -> (i32, i32) {
        (self.side as i32 + 16, self.side as i32 + 50)
    }
}

/// A tile's caption in at most two lines of at most `fits` characters each: split after `>`
/// (true class, then the answer) or where the first line is full; a line that is still too
/// long ends in an ellipsis, so neighbouring captions never run into each other.
fn caption_lines(caption: &str, fits: usize) -> Vec<String> {
    let fits = fits.max(2);
    let chars: Vec<char> = caption.chars().collect();
    let split = match chars.iter().position(|&c| c == '>') {
        Some(i) if chars.len() > fits => i + 1,
        _ => fits.min(chars.len()),
    };
    let clip = |part: &[char]| -> String {
        if part.len() <= fits {
            part.iter().collect()
        } else {
            part[..fits - 1].iter().chain(['…'].iter()).collect()
        }
    };
    let mut lines = vec![clip(&chars[..split])];
    if split < chars.len() {
        lines.push(clip(&chars[split..]));
    }
    lines
}

/// Draws `image` scaled to `side x side` with its top-left corner at `at`.
fn picture<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    image: &Raster,
    at: (i32, i32),
    (w, h): (usize, usize),
) -> DrawResult<DB> {
    let shown = image.resized(w, h);
    match BitMapElement::with_owned_buffer(at, (w as u32, h as u32), shown.bytes()) {
        Some(element) => root.draw(&element),
        None => Ok(()),
    }
}

impl Figure for ImageSheet {
    fn size(&self) -> (u32, u32) {
        let rows = self.tiles.len().div_ceil(self.columns).max(1) as i32;
        let (tw, th) = self.tile_size();
        let width = (self.columns as i32 * tw + 16).max(320);
        (width as u32, (44 + rows * th + 8) as u32)
    }

    fn has_vector_form(&self) -> bool {
        false
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (width, _) = self.size();
        let centre = (HPos::Center, VPos::Center);
        label(
            root,
            &self.title,
            (width as i32 / 2, 20),
            &text_style(18, INK, centre),
        )?;
        let (tw, th) = self.tile_size();
        let side = self.side as i32;
        for (i, t) in self.tiles.iter().enumerate() {
            let x = 8 + (i % self.columns) as i32 * tw;
            let y = 44 + (i / self.columns) as i32 * th;
            picture(root, &t.image, (x, y), (self.side, self.side))?;
            let rgb = if t.correct {
                [0, 130, 60]
            } else {
                [200, 30, 30]
            };
            outline(root, (x - 2, y - 2), (x + side + 2, y + side + 2), 2, rgb)?;
            let left_top = (HPos::Left, VPos::Top);
            for (line, text) in caption_lines(&t.caption, (self.side + 8) / 10)
                .iter()
                .enumerate()
            {
                label(
                    root,
                    text,
                    (x, y + side + 6 + 17 * line as i32),
                    &text_style(15, rgb, left_top),
                )?;
            }
        }
        Ok(())
    }
}

/// One image with a caption line under it (a heat-map overlay written by `predict --explain`).
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionedImage {
    /// The image, shown at its own size.
    pub image: Raster,
    /// The caption.
    pub caption: String,
}

impl Figure for CaptionedImage {
    fn size(&self) -> (u32, u32) {
        (self.image.width as u32, self.image.height as u32 + 20)
    }

    fn has_vector_form(&self) -> bool {
        false
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let size = (self.image.width, self.image.height);
        picture(root, &self.image, (0, 0), size)?;
        let at = (3, self.image.height as i32 + 3);
        label(
            root,
            &self.caption,
            at,
            &text_style(13, INK, (HPos::Left, VPos::Top)),
        )
    }
}

/// Lines of text on a white page in dark ink (a generated picture of a printed page).
#[derive(Debug, Clone, PartialEq)]
pub struct TextPage {
    /// Side of the square page in pixels.
    pub side: usize,
    /// The lines, top to bottom.
    pub lines: Vec<String>,
    /// Text size in pixels; lines are this far apart plus a fifth.
    pub text_size: u32,
}

impl Figure for TextPage {
    fn size(&self) -> (u32, u32) {
        (self.side as u32, self.side as u32)
    }

    fn has_vector_form(&self) -> bool {
        false
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let style = text_style(self.text_size, [20, 20, 20], (HPos::Left, VPos::Top));
        let spacing = (self.text_size as f64 * 1.2).round() as i32;
        for (i, line) in self.lines.iter().enumerate() {
            label(root, line, (6, 6 + i as i32 * spacing), &style)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::caption_lines;

    #[test]
    fn long_captions_wrap_after_the_arrow_and_end_in_an_ellipsis() {
        assert_eq!(caption_lines("A>L", 10), vec!["A>L"]);
        assert_eq!(
            caption_lines("NORMAL>PNEUMONIA", 10),
            vec!["NORMAL>", "PNEUMONIA"]
        );
        assert_eq!(
            caption_lines("PNEUMONIA>NORMAL", 8),
            vec!["PNEUMON…", "NORMAL"]
        );
        for line in caption_lines("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 8) {
            assert!(line.chars().count() <= 8, "{line}");
        }
    }
}
