//! Encoder features of one task's examples, laid out for the path network.

use std::path::Path;

use crate::error::{Error, Result};
use crate::linalg::pool_bins;
use crate::storage::{DiskPrecision, Rows};

/// A minibatch copied out of a [`FeatureSet`].
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    /// `[n * positions, channels]`.
    pub maps: Vec<f32>,
    /// `[n, side_width]`.
    pub side: Vec<f32>,
}

/// Feature maps of `len()` examples, each `[positions, channels]` (position-major, so a 1x1
/// convolution over all positions of a batch is one matrix product), with a class label each
/// and, optionally, a vector of side inputs per example (e.g. a beat's rhythm features) that the
/// network joins to the pooled maps before its fully connected layers.
///
/// The maps live in memory ([`FeatureSet::new`]) or in a file on disk ([`FeatureSet::on_disk`]),
/// read a minibatch at a time: training, search and evaluation then hold one batch of maps, not
/// the set. Labels and side inputs are always in memory (a few bytes per example).
#[derive(Debug, Clone)]
pub struct FeatureSet {
    /// Feature map height.
    pub height: usize,
    /// Feature map width.
    pub width: usize,
    /// Channels per position (512 for VGG-16).
    pub channels: usize,
    /// `len()` rows of `height * width * channels` values.
    rows: Rows,
    /// Class index of every example.
    pub labels: Vec<usize>,
    /// Side inputs per example (0: none).
    pub side_width: usize,
    /// `len() * side_width` side input values.
    pub side: Vec<f32>,
}

impl FeatureSet {
    /// An empty set for maps of the given shape.
    pub fn new(height: usize, width: usize, channels: usize) -> FeatureSet {
        FeatureSet {
            height,
            width,
            channels,
            rows: Rows::Memory(Vec::new()),
            labels: Vec::new(),
            side_width: 0,
            side: Vec::new(),
        }
    }

    /// An empty set for maps of the given shape whose maps are kept in an unnamed file in
    /// `dir` (gone when the set and every set selected from it are dropped, or the process
    /// ends), at `precision`.
    pub fn on_disk(
        height: usize,
        width: usize,
        channels: usize,
        dir: &Path,
        precision: DiskPrecision,
    ) -> Result<FeatureSet> {
        let mut set = FeatureSet::new(height, width, channels);
        set.rows = Rows::on_disk(dir, set.example_len(), precision)?;
        Ok(set)
    }

    /// Whether the maps are on disk, and at what precision (`None`: in memory).
    pub fn disk_precision(&self) -> Option<DiskPrecision> {
        self.rows.disk_precision()
    }

    /// The same set shape with `width` side inputs per example.
    pub fn with_side(mut self, width: usize) -> FeatureSet {
        assert!(
            self.is_empty(),
            "side width is set before examples are added"
        );
        self.side_width = width;
        self
    }

    /// Values per example.
    pub fn example_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Appends one example given in the encoder's layout `[channels, height, width]`; its side
    /// inputs, if the set has any, are zeros (an input of a task without side inputs).
    pub fn push_chw(&mut self, chw: &[f32], label: usize) -> Result<()> {
        let zeros = vec![0.0; self.side_width];
        self.push_with_side(chw, &zeros, label)
    }

    /// Appends one example in the encoder's layout `[channels, height, width]` with its side
    /// inputs.
    pub fn push_with_side(&mut self, chw: &[f32], side: &[f32], label: usize) -> Result<()> {
        if side.len() != self.side_width {
            return Err(Error::Shape(format!(
                "{} side inputs given, the set holds {} per example",
                side.len(),
                self.side_width
            )));
        }
        if let Some(bad) = side.iter().position(|v| !v.is_finite()) {
            return Err(Error::Shape(format!(
                "side input {bad} of example {} is {} (not a finite number)",
                self.len(),
                side[bad]
            )));
        }
        if chw.len() != self.example_len() {
            return Err(Error::Shape(format!(
                "feature map has {} values, expected {} ({}x{}x{})",
                chw.len(),
                self.example_len(),
                self.channels,
                self.height,
                self.width
            )));
        }
        if let Some(bad) = chw.iter().position(|v| !v.is_finite()) {
            return Err(Error::Shape(format!(
                "feature value {bad} of example {} is {} (not a finite number)",
                self.len(),
                chw[bad]
            )));
        }
        let positions = self.height * self.width;
        let mut row = Vec::with_capacity(chw.len());
        for p in 0..positions {
            row.extend((0..self.channels).map(|c| chw[c * positions + p]));
        }
        self.rows.push(&row)?;
        self.side.extend_from_slice(side);
        self.labels.push(label);
        Ok(())
    }

    /// Side inputs of example `i`.
    pub fn side_of(&self, i: usize) -> &[f32] {
        &self.side[i * self.side_width..(i + 1) * self.side_width]
    }

    /// The examples at `indices`, in that order, as a new set (of a disk-backed set: a view of
    /// the same file, nothing copied).
    pub fn select(&self, indices: &[usize]) -> Result<FeatureSet> {
        let mut out = FeatureSet {
            rows: self.rows.select(indices, self.example_len())?,
            labels: Vec::with_capacity(indices.len()),
            side: Vec::with_capacity(indices.len() * self.side_width),
            ..FeatureSet::new(self.height, self.width, self.channels).with_side(self.side_width)
        };
        for &i in indices {
            out.side.extend_from_slice(self.side_of(i));
            out.labels.push(self.labels[i]);
        }
        Ok(out)
    }

    /// The maps of the examples at `indices`, with new `labels` and `side_width` side inputs per
    /// example (`side`, flat): the examples of one role of a task built from a set holding every
    /// picture once. Maps are copied for a set in memory and shared for one on disk.
    pub fn relabelled(
        &self,
        indices: &[usize],
        labels: Vec<usize>,
        side_width: usize,
        side: Vec<f32>,
    ) -> Result<FeatureSet> {
        if labels.len() != indices.len() || side.len() != indices.len() * side_width {
            return Err(Error::Shape(format!(
                "{} examples chosen with {} labels and {} side values ({} per example)",
                indices.len(),
                labels.len(),
                side.len(),
                side_width
            )));
        }
        if let Some(bad) = side.iter().position(|v| !v.is_finite()) {
            return Err(Error::Shape(format!(
                "side input {} of example {} is {} (not a finite number)",
                bad % side_width.max(1),
                bad / side_width.max(1),
                side[bad]
            )));
        }
        Ok(FeatureSet {
            rows: self.rows.select(indices, self.example_len())?,
            labels,
            side_width,
            side,
            ..FeatureSet::new(self.height, self.width, self.channels)
        })
    }

    /// The maps of example `i` (position-major, `[positions, channels]`).
    pub fn example(&self, i: usize) -> Result<Vec<f32>> {
        let mut row = Vec::with_capacity(self.example_len());
        self.rows.gather(&[i], self.example_len(), &mut row)?;
        Ok(row)
    }

    /// Calls `f` with each example's index and maps, reading a disk-backed set a row at a time.
    pub fn for_each_example(&self, mut f: impl FnMut(usize, &[f32])) -> Result<()> {
        let mut row = Vec::with_capacity(self.example_len());
        for i in 0..self.len() {
            row.clear();
            self.rows.gather(&[i], self.example_len(), &mut row)?;
            f(i, &row);
        }
        Ok(())
    }

    /// Changes every example's maps in place with `f` (a disk-backed set gets new rows; sets
    /// selected from it earlier keep the old ones).
    pub fn map_examples(&mut self, mut f: impl FnMut(&mut [f32])) -> Result<()> {
        let len = self.example_len();
        self.rows.map(len, &mut f)
    }

    /// Appends every example of `other` (same shapes).
    pub fn extend(&mut self, other: &FeatureSet) -> Result<()> {
        if (other.height, other.width, other.channels, other.side_width)
            != (self.height, self.width, self.channels, self.side_width)
        {
            return Err(Error::Shape(format!(
                "cannot join feature sets of shapes {}x{}x{} (+{}) and {}x{}x{} (+{})",
                self.channels,
                self.height,
                self.width,
                self.side_width,
                other.channels,
                other.height,
                other.width,
                other.side_width
            )));
        }
        self.rows
            .extend(&other.rows, other.len(), self.example_len())?;
        self.side.extend_from_slice(&other.side);
        self.labels.extend_from_slice(&other.labels);
        Ok(())
    }

    /// Copies the examples at `indices` into `batch` (maps contiguous, `[n * positions,
    /// channels]`, and side inputs `[n, side_width]`).
    pub(crate) fn gather(&self, indices: &[usize], batch: &mut Gathered) -> Result<()> {
        batch.maps.clear();
        batch.side.clear();
        self.rows
            .gather(indices, self.example_len(), &mut batch.maps)?;
        for &i in indices {
            batch.side.extend_from_slice(self.side_of(i));
        }
        Ok(())
    }

    /// Every example's maps average-pooled to `grid x grid` cells (cell-major, channels within
    /// a cell) with its side inputs after them: `[len(), grid * grid * channels + side_width]`,
    /// the input of a linear readout.
    pub fn pooled_rows(&self, grid: usize) -> Result<Vec<f32>> {
        let (rows, cols) = (pool_bins(self.height, grid), pool_bins(self.width, grid));
        let c = self.channels;
        let width = grid * grid * c + self.side_width;
        let mut out = vec![0.0; self.len() * width];
        self.for_each_example(|e, src| {
            let dst = &mut out[e * width..(e + 1) * width];
            for (gi, &(r0, r1)) in rows.iter().enumerate() {
                for (gj, &(c0, c1)) in cols.iter().enumerate() {
                    let cell = &mut dst[(gi * grid + gj) * c..][..c];
                    let scale = 1.0 / ((r1 - r0) * (c1 - c0)) as f32;
                    for r in r0..r1 {
                        for col in c0..c1 {
                            let v = &src[(r * self.width + col) * c..][..c];
                            for (o, x) in cell.iter_mut().zip(v) {
                                *o += x * scale;
                            }
                        }
                    }
                }
            }
            dst[grid * grid * c..].copy_from_slice(self.side_of(e));
        })?;
        Ok(out)
    }

    /// Examples per class, for `classes` classes.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in &self.labels {
            if l < classes {
                counts[l] += 1;
            }
        }
        counts
    }
}

/// Two sets are equal when they hold the same examples (wherever their maps are kept).
impl PartialEq for FeatureSet {
    fn eq(&self, other: &FeatureSet) -> bool {
        let maps = |set: &FeatureSet| {
            let mut all = Vec::new();
            let indices: Vec<usize> = (0..set.len()).collect();
            set.rows
                .gather(&indices, set.example_len(), &mut all)
                .map(|()| all)
                .ok()
        };
        (self.height, self.width, self.channels, self.side_width)
            == (other.height, other.width, other.channels, other.side_width)
            && self.labels == other.labels
            && self.side == other.side
            && maps(self).is_some()
            && maps(self) == maps(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_rows_match_the_linear_readouts_input() {
        let mut set = FeatureSet::new(3, 2, 2).with_side(1);
        let chw: Vec<f32> = (0..12).map(|v| v as f32).collect();
        set.push_with_side(&chw, &[7.5], 0).unwrap();
        let rows = set.pooled_rows(1).unwrap();
        // Channel 0 holds 0..6, channel 1 holds 6..12: means 2.5 and 8.5, then the side input.
        assert_eq!(rows, vec![2.5, 8.5, 7.5]);
    }
}
