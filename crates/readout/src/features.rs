//! What is done to encoder features before a readout reads them: side inputs standardised with
//! the training examples' mean and spread, and features centred on a record's or site's mean.

use serde::{Deserialize, Serialize};

/// Whether encoder features are centred, and on what: an ECG beat on its record, an image on
/// its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Centre {
    /// Features as the encoder gives them.
    #[default]
    None,
    /// Minus the record's mean features (ECG tasks).
    Record,
    /// Minus the mean features of the images of the same site (image tasks): the training
    /// folder's training images for training and validation images, the test folder's images
    /// for its test images, the images given together for `predict`.
    Site,
}

/// Mean and standard deviation of each side input over the training examples: side inputs are
/// fed to the network as `(value - mean) / std`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SideScaling {
    /// Mean per side input.
    pub mean: Vec<f32>,
    /// Standard deviation per side input (1 where the input never varies).
    pub std: Vec<f32>,
}

impl SideScaling {
    /// The scaling of `rows` (each one example's raw side inputs).
    pub fn fit<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> SideScaling {
        let (mut sum, mut squares, mut n) = (vec![0f64; width], vec![0f64; width], 0usize);
        for row in rows {
            for (i, v) in row.iter().enumerate() {
                sum[i] += f64::from(*v);
                squares[i] += f64::from(*v) * f64::from(*v);
            }
            n += 1;
        }
        let n = n.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = squares
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let sd = (q / n - m * m).max(0.0).sqrt();
                if sd > 1e-6 { sd as f32 } else { 1.0 }
            })
            .collect();
        SideScaling {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// `raw` standardised and padded with zeros to `width` (the network's side width).
    pub fn apply(&self, raw: &[f32], width: usize) -> Vec<f32> {
        let mut out = vec![0.0; width];
        for (i, v) in raw.iter().enumerate().take(width) {
            out[i] = (v - self.mean.get(i).copied().unwrap_or(0.0))
                / self.std.get(i).copied().unwrap_or(1.0);
        }
        out
    }
}

/// The element-wise mean of equally long vectors (`None` for none).
pub fn mean_of(rows: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = rows.first()?;
    let mut mean = vec![0f64; first.len()];
    for row in rows {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    let n = rows.len() as f64;
    Some(mean.into_iter().map(|m| (m / n) as f32).collect())
}

/// `values -= centre`, element-wise.
pub fn subtract(values: &mut [f32], centre: &[f32]) {
    for (v, c) in values.iter_mut().zip(centre) {
        *v -= c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_standardises_and_pads() {
        let rows: Vec<Vec<f32>> = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let s = SideScaling::fit(rows.iter().map(|r| r.as_slice()), 2);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert_eq!(s.std, vec![1.0, 1.0]);
        assert_eq!(s.apply(&[3.0, 5.0], 4), vec![1.0, 0.0, 0.0, 0.0]);
    }
}
