//! A batch of feature maps in NHWC order, and conversion from and to NCHW.

/// `n` feature maps of `h x w` pixels and `c` channels, stored NHWC.
#[derive(Debug, Clone, PartialEq)]
pub struct Activations {
    /// `n * h * w * c` values; a pixel's channels are contiguous.
    pub data: Vec<f32>,
    /// Images in the batch.
    pub n: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Activations {
    /// Zero-filled maps of the given shape.
    pub fn zeros(n: usize, h: usize, w: usize, c: usize) -> Activations {
        Activations {
            data: vec![0.0; n * h * w * c],
            n,
            h,
            w,
            c,
        }
    }

    /// Maps of the given shape in `buffer`'s memory, for a caller that writes every value: what
    /// the buffer held stays in place (zeros past its old length), so no time goes to zeroing.
    pub fn reusing(mut buffer: Vec<f32>, n: usize, h: usize, w: usize, c: usize) -> Activations {
        let len = n * h * w * c;
        buffer.truncate(len);
        buffer.resize(len, 0.0);
        Activations {
            data: buffer,
            n,
            h,
            w,
            c,
        }
    }

    /// Reorders an NCHW batch (`n * c * h * w` values) into NHWC.
    pub fn from_nchw(values: &[f32], n: usize, c: usize, h: usize, w: usize) -> Activations {
        assert_eq!(
            values.len(),
            n * c * h * w,
            "NCHW batch of the wrong length"
        );
        let mut out = Activations::zeros(n, h, w, c);
        let plane = h * w;
        for img in 0..n {
            let src = &values[img * c * plane..(img + 1) * c * plane];
            let dst = &mut out.data[img * plane * c..(img + 1) * plane * c];
            for (p, pixel) in dst.chunks_exact_mut(c).enumerate() {
                for (ch, v) in pixel.iter_mut().enumerate() {
                    *v = src[ch * plane + p];
                }
            }
        }
        out
    }

    /// The same values in NCHW order.
    pub fn to_nchw(&self) -> Vec<f32> {
        let plane = self.h * self.w;
        let c = self.c;
        let mut out = vec![0.0; self.data.len()];
        for img in 0..self.n {
            let src = &self.data[img * plane * c..(img + 1) * plane * c];
            let dst = &mut out[img * c * plane..(img + 1) * c * plane];
            for (p, pixel) in src.chunks_exact(c).enumerate() {
                for (ch, v) in pixel.iter().enumerate() {
                    dst[ch * plane + p] = *v;
                }
            }
        }
        out
    }

    /// Values of one image row (all columns and channels).
    pub fn row_len(&self) -> usize {
        self.w * self.c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_round_trip_puts_channels_last() {
        let nchw: Vec<f32> = (0..2 * 3 * 2 * 4).map(|v| v as f32).collect();
        let a = Activations::from_nchw(&nchw, 2, 3, 2, 4);
        // Image 0, pixel (0, 1): channels 0, 1, 2 are at NCHW offsets 1, 9, 17.
        assert_eq!(&a.data[3..6], &[1.0, 9.0, 17.0]);
        assert_eq!(a.to_nchw(), nchw);
    }
}

/// A run of consecutive bands (groups of `band_rows` rows inside one image, the last band of an
/// image possibly shorter) and the output values they own.
pub struct Part<'a> {
    /// Index of the first band over the whole batch (`image * bands_per_image + band`).
    pub first_band: usize,
    /// Number of bands.
    pub bands: usize,
    /// The output rows of those bands, contiguous in NHWC.
    pub data: &'a mut [f32],
}

impl Activations {
    /// Bands of `band_rows` rows per image.
    pub fn bands_per_image(&self, band_rows: usize) -> usize {
        self.h.div_ceil(band_rows)
    }

    /// First row (over the whole batch, `image * h + row`) of band `band`.
    pub fn band_start_row(&self, band: usize, band_rows: usize) -> usize {
        let per_image = self.bands_per_image(band_rows);
        (band / per_image) * self.h + (band % per_image) * band_rows
    }

    /// Cuts the values into parts of `bands_per_part` bands each, for threads to fill
    /// independently. Bands of consecutive indices own consecutive rows, so each part is one slice.
    pub fn parts_mut(&mut self, band_rows: usize, bands_per_part: usize) -> Vec<Part<'_>> {
        let total = self.n * self.bands_per_image(band_rows);
        let row_len = self.row_len();
        let starts: Vec<usize> = (0..total)
            .step_by(bands_per_part.max(1))
            .map(|band| self.band_start_row(band, band_rows))
            .collect();
        let mut parts = Vec::with_capacity(starts.len());
        let mut rest: &mut [f32] = &mut self.data;
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(self.n * self.h);
            let (head, tail) = std::mem::take(&mut rest).split_at_mut((end - start) * row_len);
            let first_band = i * bands_per_part.max(1);
            parts.push(Part {
                first_band,
                bands: bands_per_part.max(1).min(total - first_band),
                data: head,
            });
            rest = tail;
        }
        parts
    }
}

/// Bands per part so that a part holds about `target_units` units of work (`units_per_band` per
/// band) while there are still at least two parts per thread when the batch allows it.
pub fn bands_per_part(total_bands: usize, units_per_band: usize, target_units: usize) -> usize {
    let by_size = (target_units / units_per_band.max(1)).max(1);
    let by_threads = total_bands
        .div_ceil(2 * rayon::current_num_threads())
        .max(1);
    by_size.min(by_threads)
}

/// Spare buffers kept between calls, so that a call reuses memory already mapped instead of
/// faulting in fresh pages: the largest are kept, and the largest is handed out first.
pub struct SpareBuffers {
    kept: std::sync::Mutex<Vec<Vec<f32>>>,
    most: usize,
}

impl SpareBuffers {
    /// An empty store that keeps at most `most` buffers.
    pub const fn new(most: usize) -> SpareBuffers {
        SpareBuffers {
            kept: std::sync::Mutex::new(Vec::new()),
            most,
        }
    }

    /// The largest kept buffer, or a new empty one.
    pub fn take(&self) -> Vec<f32> {
        self.lock().pop().unwrap_or_default()
    }

    /// Keeps `buffer` if it is among the `most` largest.
    pub fn give(&self, buffer: Vec<f32>) {
        let mut kept = self.lock();
        kept.push(buffer);
        kept.sort_by_key(Vec::capacity);
        let excess = kept.len().saturating_sub(self.most);
        kept.drain(..excess);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<f32>>> {
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod part_tests {
    use super::*;

    #[test]
    fn parts_cover_every_row_once_even_with_short_last_bands() {
        // 2 images of 6 rows: bands of 4 rows are rows 0-3, 4-5 of each image.
        let mut a = Activations::zeros(2, 6, 3, 2);
        let parts = a.parts_mut(4, 3);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].first_band, parts[0].bands), (0, 3));
        // Bands 0, 1, 2 = image 0 rows 0-5 and image 1 rows 0-3: 10 rows of 6 values.
        assert_eq!(parts[0].data.len(), 10 * 6);
        assert_eq!((parts[1].first_band, parts[1].bands), (3, 1));
        assert_eq!(parts[1].data.len(), 2 * 6);
    }
}
