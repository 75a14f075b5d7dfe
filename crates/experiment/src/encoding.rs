//! Encoding a task's pictures: beats drawn in memory by the task's record pipeline a chunk at a
//! time (never written to files), image files read by the encoder, all through the feature
//! cache.

use medpath_data::AugmentConfig;
use medpath_infer::InferError;
use medpath_infer::encoder::{EncodedViews, Encoding};

use crate::error::Result;
use crate::pictures::{Drawer, PictureOf};
use crate::tasks::{Input, PreparedTask};

/// Pictures drawn (beats) or named (files) before they go to the encoder together: a few
/// megabytes of beat pictures in memory at a time.
const DRAWN_AT_ONCE: usize = 512;

/// Like [`Encoding::features_into`] for pictures of `task`'s inputs (`pictures`: an input
/// and which of its pictures, each): beats are drawn in memory by the task's record
/// pipeline a chunk at a time, never written to files; `sink` gets each picture's index
/// in `pictures`.
pub fn picture_features_into(
    enc: &Encoding,
    task: &PreparedTask,
    pictures: &[(&Input, PictureOf)],
    size: usize,
    augment: AugmentConfig,
    sink: &mut dyn FnMut(usize, Vec<f32>) -> Result<()>,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<String>> {
    let mut drawer = Drawer::new(task);
    let mut failed = Vec::new();
    for (c, chunk) in pictures.chunks(DRAWN_AT_ONCE).enumerate() {
        let base = c * DRAWN_AT_ONCE;
        let requests = chunk
            .iter()
            .map(|(input, which)| drawer.request(input, *which))
            .collect::<Result<Vec<_>>>()?;
        // The sink's own error stops the encoder; it is handed back as it was.
        let mut refused = None;
        let outcome = enc.features_into(
            &requests,
            size,
            augment,
            &mut |i, values| {
                sink(base + i, values).map_err(|e| {
                    let message = e.to_string();
                    refused = Some(e);
                    InferError::Config(message)
                })
            },
            &mut |done| progress(base + done),
        );
        if let Some(e) = refused {
            return Err(e);
        }
        failed.extend(outcome?);
    }
    Ok(failed)
}

/// Features of `pictures` of `task`'s inputs (see [`picture_features_into`]):
/// `None` for inputs that could not be read, with the reasons.
pub fn picture_features(
    enc: &Encoding,
    task: &PreparedTask,
    pictures: &[(&Input, PictureOf)],
    size: usize,
    augment: AugmentConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<EncodedViews> {
    let mut out = vec![None; pictures.len()];
    let failed = picture_features_into(
        enc,
        task,
        pictures,
        size,
        augment,
        &mut |i, values| {
            out[i] = Some(values);
            Ok(())
        },
        progress,
    )?;
    Ok((out, failed))
}
