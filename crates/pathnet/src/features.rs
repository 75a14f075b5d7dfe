//! Encoder features of one task's examples, laid out for the path network.

use crate::error::{Error, Result};

/// Feature maps of `len()` examples, each `[positions, channels]` (position-major, so a 1x1
/// convolution over all positions of a batch is one matrix product), with a class label each.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    /// Feature map height.
    pub height: usize,
    /// Feature map width.
    pub width: usize,
    /// Channels per position (512 for VGG-16).
    pub channels: usize,
    /// `len() * height * width * channels` values.
    pub data: Vec<f32>,
    /// Class index of every example.
    pub labels: Vec<usize>,
}

impl FeatureSet {
    /// An empty set for maps of the given shape.
    pub fn new(height: usize, width: usize, channels: usize) -> FeatureSet {
        FeatureSet {
            height,
            width,
            channels,
            data: Vec::new(),
            labels: Vec::new(),
        }
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

    /// Appends one example given in the encoder's layout `[channels, height, width]`.
    pub fn push_chw(&mut self, chw: &[f32], label: usize) -> Result<()> {
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
        self.data.reserve(chw.len());
        for p in 0..positions {
            self.data
                .extend((0..self.channels).map(|c| chw[c * positions + p]));
        }
        self.labels.push(label);
        Ok(())
    }

    /// The examples at `indices`, in that order, as a new set.
    pub fn select(&self, indices: &[usize]) -> FeatureSet {
        let len = self.example_len();
        let mut out = FeatureSet::new(self.height, self.width, self.channels);
        out.data.reserve(indices.len() * len);
        for &i in indices {
            out.data
                .extend_from_slice(&self.data[i * len..(i + 1) * len]);
            out.labels.push(self.labels[i]);
        }
        out
    }

    /// Copies the examples at `indices` into `buffer` (contiguous, `[n * positions, channels]`).
    pub(crate) fn gather(&self, indices: &[usize], buffer: &mut Vec<f32>) {
        let len = self.example_len();
        buffer.clear();
        for &i in indices {
            buffer.extend_from_slice(&self.data[i * len..(i + 1) * len]);
        }
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
