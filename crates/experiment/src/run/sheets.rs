//! Sheets of test inputs for the report: right and wrong answers of each class, and their
//! occlusion heat maps.

use std::path::Path as FilePath;

use medpath_pathnet::{SuperNet, evaluate};
use medpath_plot::{Figure, Tile, image_sheet};

use super::Encoded;
use crate::config::ReadoutKind;
use crate::error::Result;
use crate::pictures::{Drawer, PictureOf};
use crate::tasks::PreparedTask;
use medpath_infer::encoder::Encoding;
use medpath_learn::TaskResult;

/// Draws up to `per_class` right and wrong test inputs of each class with their predictions.
pub(super) fn sample_sheet(
    task: &PreparedTask,
    test_rows: &[usize],
    result: &TaskResult,
    per_class: usize,
    out: &FilePath,
) -> Result<()> {
    let predicted = result.test_predictions();
    let mut drawer = Drawer::new(task);
    let mut tiles = Vec::new();
    for (c, class) in task.classes.iter().enumerate() {
        for correct in [true, false] {
            let rows = test_rows
                .iter()
                .enumerate()
                .filter(|(r, _)| result.test_truth[*r] == c && (predicted[*r] == c) == correct)
                .take(per_class);
            for (r, &example) in rows {
                let input = &task.examples[example].input;
                let Ok(image) = drawer.image(input, PictureOf::Own) else {
                    continue;
                };
                tiles.push(Tile {
                    caption: format!("{class}>{}", task.classes[predicted[r]]),
                    image: medpath_infer::explain::raster_of(&image),
                    correct,
                });
            }
        }
    }
    image_sheet(
        &format!("{}: test inputs (true>predicted)", task.name),
        &tiles,
        (2 * per_class).max(4),
        96,
    )
    .save(out)?;
    Ok(())
}

/// The raw probabilities a finished task answers `set` with: its path's, or its boosted trees'
/// (read from the task's folder `task_dir`).
pub(super) fn raw_answers(
    net: &SuperNet,
    result: &TaskResult,
    task_dir: &FilePath,
    set: &medpath_pathnet::FeatureSet,
) -> medpath_infer::Result<Vec<f32>> {
    Ok(match result.readout {
        ReadoutKind::BoostedTrees => {
            let file = task_dir.join(medpath_readout::boosted_file(&result.name));
            medpath_readout::BoostedReadout::load(&file)?.predict(set)?
        }
        ReadoutKind::Path => {
            let head = net.head_index(&result.name).ok_or_else(|| {
                medpath_infer::InferError::Config(format!(
                    "task `{}`: the network has no readout for it",
                    result.name
                ))
            })?;
            evaluate(net, head, &result.path, set)?.probs
        }
    })
}

/// Occlusion maps of up to `per_class` right and wrong answers of each class, on the task's
/// test set (validation for a cross-validated task, whose test answers came from the folds'
/// models), as one sheet: `task_dir/heatmaps.png`.
pub(super) fn heatmap_sheet(
    enc: &Encoding,
    net: &SuperNet,
    task: &PreparedTask,
    result: &TaskResult,
    encoded: &Encoded,
    task_dir: &FilePath,
    per_class: usize,
) -> Result<()> {
    let (set, rows, which) = if task.folds == 0 {
        (encoded.split.test.fitness(), &encoded.test_rows, "test")
    } else {
        (encoded.split.val.fitness(), &encoded.val_rows, "validation")
    };
    let mut drawer = Drawer::new(task);
    let k = task.classes.len();
    let answered = result
        .decision
        .classes_of(&raw_answers(net, result, task_dir, set)?, k);
    let mut tiles = Vec::new();
    for c in 0..k {
        for correct in [true, false] {
            let chosen = (0..rows.len())
                .filter(|&r| set.labels[r] == c && (answered[r] == c) == correct)
                .take(per_class);
            for r in chosen {
                let input = &task.examples[rows[r]].input;
                let Ok(image) = drawer.image(input, PictureOf::Own) else {
                    continue;
                };
                let fitted = enc.preprocess(task.size).fit(&image);
                let class = answered[r];
                let side = set.side_of(r);
                let mut score =
                    |batch: &[medpath_data::RgbImage]| -> medpath_infer::Result<Vec<f32>> {
                        let mut occluded = Encoding::feature_set(task.size, set.side_width);
                        for values in enc.encode_images(batch, task.size)? {
                            occluded.push_with_side(&values, side, 0)?;
                        }
                        let raw = raw_answers(net, result, task_dir, &occluded)?;
                        Ok(result
                            .decision
                            .calibrated(&raw, k)
                            .chunks_exact(k)
                            .map(|p| p[class])
                            .collect())
                    };
                let map = medpath_infer::explain::occlusion_map(&fitted, &mut score)?;
                let caption = format!("{}>{}", task.classes[c], task.classes[class]);
                tiles.push(Tile {
                    image: medpath_infer::explain::heat_overlay(&fitted, &map),
                    caption,
                    correct,
                });
            }
        }
    }
    image_sheet(
        &format!(
            "{}: occlusion maps on {which} inputs (true>answered)",
            task.name
        ),
        &tiles,
        (2 * per_class).max(4),
        128,
    )
    .save(&task_dir.join("heatmaps.png"))?;
    Ok(())
}
