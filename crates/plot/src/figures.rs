//! Figures other than line charts: confusion matrices, path grids, sheets of example images.

use crate::canvas::{Canvas, INK, PALETTE, Rgb, WHITE, mix};

/// A confusion matrix as a heat map: colour by row share (recall), each cell with its count.
pub fn confusion_heatmap(title: &str, classes: &[String], matrix: &[Vec<usize>]) -> Canvas {
    let k = classes.len().max(1);
    let cell = (360 / k).clamp(40, 120) as i64;
    let label_w = classes
        .iter()
        .map(|c| Canvas::text_width(c, 1))
        .max()
        .unwrap_or(8)
        + 16;
    let (left, top) = (label_w + 24, 60i64);
    let width = (left + cell * k as i64 + 20) as usize;
    let height = (top + cell * k as i64 + 50) as usize;
    let mut c = Canvas::new(width.max(300), height);
    c.text_centered(c.width as i64 / 2, 10, title, 2, INK);
    c.text_centered(left + cell * k as i64 / 2, 36, "predicted", 1, INK);
    c.text(4, top - 14, "true", 1, INK);
    let dark: Rgb = [8, 48, 107];
    for (r, row) in matrix.iter().enumerate() {
        let total: usize = row.iter().sum();
        c.text(
            left - 8 - Canvas::text_width(&classes[r], 1),
            top + r as i64 * cell + cell / 2 - 4,
            &classes[r],
            1,
            INK,
        );
        for (col, &count) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            };
            let color = mix([247, 251, 255], dark, share);
            let (x, y) = (left + col as i64 * cell, top + r as i64 * cell);
            c.fill(x, y, cell, cell, color);
            let ink = if share > 0.5 { WHITE } else { INK };
            c.text_centered(x + cell / 2, y + cell / 2 - 8, &count.to_string(), 1, ink);
            c.text_centered(
                x + cell / 2,
                y + cell / 2 + 4,
                &format!("{:.0}%", share * 100.0),
                1,
                ink,
            );
        }
    }
    for (col, name) in classes.iter().enumerate() {
        c.text_centered(
            left + col as i64 * cell + cell / 2,
            top + k as i64 * cell + 8,
            name,
            1,
            INK,
        );
    }
    c
}

/// One task's path for [`path_grid`].
#[derive(Debug, Clone, PartialEq)]
pub struct PathMark {
    /// Task name (legend).
    pub task: String,
    /// Active modules per layer.
    pub path: Vec<Vec<usize>>,
}

/// The L x M module grid: each task's modules filled in its colour (shared modules split), frozen
/// modules outlined thick.
pub fn path_grid(
    layers: usize,
    modules: usize,
    tasks: &[PathMark],
    frozen: &[Vec<bool>],
) -> Canvas {
    let cell = 40i64;
    let gap = 8i64;
    let left = 90i64;
    let top = 50i64;
    let width = (left + modules as i64 * (cell + gap) + 20).max(420) as usize;
    let height = (top + layers as i64 * (cell + gap) + 30 + tasks.len() as i64 * 16) as usize;
    let mut c = Canvas::new(width, height);
    c.text_centered(width as i64 / 2, 10, "paths: layers x modules", 2, INK);
    for l in 0..layers {
        let y = top + l as i64 * (cell + gap);
        let kind = if l == 0 { "conv" } else { "fc" };
        c.text(8, y + cell / 2 - 4, &format!("L{} {kind}", l + 1), 1, INK);
        for m in 0..modules {
            let x = left + m as i64 * (cell + gap);
            let users: Vec<usize> = tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.path.get(l).is_some_and(|ms| ms.contains(&m)))
                .map(|(i, _)| i)
                .collect();
            c.fill(x, y, cell, cell, [245, 245, 245]);
            for (j, &t) in users.iter().enumerate() {
                let share = cell / users.len() as i64;
                c.fill(
                    x + j as i64 * share,
                    y,
                    share,
                    cell,
                    PALETTE[t % PALETTE.len()],
                );
            }
            let is_frozen = frozen
                .get(l)
                .and_then(|f| f.get(m))
                .copied()
                .unwrap_or(false);
            c.frame(x, y, cell, cell, if is_frozen { 4 } else { 1 }, INK);
            c.text_centered(
                x + cell / 2,
                y + cell / 2 - 4,
                &m.to_string(),
                1,
                if users.is_empty() { INK } else { WHITE },
            );
        }
    }
    let ly = top + layers as i64 * (cell + gap) + 6;
    for (i, t) in tasks.iter().enumerate() {
        c.fill(left, ly + i as i64 * 16, 12, 12, PALETTE[i % PALETTE.len()]);
        c.text(left + 18, ly + i as i64 * 16 + 2, &t.task, 1, INK);
    }
    c.text(left + 200, ly + 2, "thick frame = frozen", 1, INK);
    c
}

/// One tile of an image sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// Caption under the image.
    pub caption: String,
    /// Row-major RGB pixels.
    pub pixels: Vec<Rgb>,
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Whether the caption marks a correct prediction (green) or a wrong one (red).
    pub correct: bool,
}

/// A grid of example images with captions, `columns` per row, each shown at `side` pixels.
pub fn image_sheet(title: &str, tiles: &[Tile], columns: usize, side: usize) -> Canvas {
    let columns = columns.max(1);
    let rows = tiles.len().div_ceil(columns).max(1);
    let (tw, th) = (side as i64 + 16, side as i64 + 30);
    let width = (columns as i64 * tw + 16).max(300) as usize;
    let height = (40 + rows as i64 * th + 10) as usize;
    let mut c = Canvas::new(width, height);
    c.text_centered(width as i64 / 2, 10, title, 2, INK);
    for (i, t) in tiles.iter().enumerate() {
        let (x, y) = (
            8 + (i % columns) as i64 * tw,
            40 + (i / columns) as i64 * th,
        );
        c.blit((x, y), &t.pixels, (t.width, t.height), (side, side));
        let color = if t.correct {
            [0, 130, 60]
        } else {
            [200, 30, 30]
        };
        c.frame(x - 2, y - 2, side as i64 + 4, side as i64 + 4, 2, color);
        let caption: String = t.caption.chars().take((side + 8) / 8).collect();
        c.text(x, y + side as i64 + 6, &caption, 1, color);
    }
    c
}
