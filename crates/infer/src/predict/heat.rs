//! Occlusion heat maps of `predict`'s answers, on the picture the answer is (mostly) read from.

use std::path::{Path as FilePath, PathBuf};

use medpath_data::RgbImage;

use super::Predictor;
use crate::bundle::BundleTask;
use crate::encoder::Encoding;
use crate::error::{InferError as Error, Result};
use crate::explain::{occlusion_map, save_overlay};
use medpath_readout::ViewRule;
use medpath_readout::subtract;
use medpath_runkit::write_json;

/// A picture as the encoder sees it (fitted to the task's size), named for the files of its
/// heat map.
pub(super) struct Shown {
    /// File names start with it: the image file's stem, or `<record>_<sample>` for a beat.
    pub stem: String,
    /// The fitted picture.
    pub image: RgbImage,
}

impl Shown {
    /// The image file `path` fitted to `size`.
    pub fn file(path: &FilePath, predictor: &Predictor, size: usize) -> Result<Shown> {
        let (image, _) = medpath_data::load_rgb(path)
            .map_err(|e| Error::run(path, format!("cannot read it to explain: {e}")))?;
        Ok(Shown {
            stem: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            image: predictor.encoding.preprocess(size).fit(&image),
        })
    }

    /// A picture drawn in memory (a beat) fitted to `size`, named `stem`.
    pub fn drawn(stem: String, image: &RgbImage, predictor: &Predictor, size: usize) -> Shown {
        Shown {
            stem,
            image: predictor.encoding.preprocess(size).fit(image),
        }
    }
}

impl Predictor {
    /// Writes the occlusion map of `pictures.0` for class `class` of `task` into `out` (a PNG
    /// overlay and the map as JSON, named after the picture); `side` are the picture's
    /// standardised side inputs (a beat's), zeros when none; `centre` the mean features its
    /// task subtracts (its record's or site's), if any. For a task with first-lead classes,
    /// `pictures.1` is the beat's first-lead picture: the map is drawn on the picture the
    /// class is (mostly) read from (the first-lead one for first-lead classes), the other held
    /// as it is, so that it starts from the printed answer.
    pub(super) fn explain(
        &self,
        task: &BundleTask,
        (own, first_lead): (&Shown, Option<&Shown>),
        (class, side, centre): (usize, Option<&[f32]>, Option<&[f32]>),
        out: &FilePath,
    ) -> Result<PathBuf> {
        let from_first_lead = matches!(
            &task.view_rule,
            ViewRule::FirstLead { classes, .. } if classes.contains(&class)
        );
        let (shown, held, tag) = match first_lead {
            Some(first) if from_first_lead => (first, Some(own), "_first"),
            other => (own, other, ""),
        };
        let held = match held {
            Some(held) => self
                .encoding
                .encode_images(std::slice::from_ref(&held.image), task.size)?
                .into_iter()
                .next(),
            None => None,
        };
        let width = self.bundle.net.config.side_width;
        let zeros = vec![0.0; width];
        let side = side.unwrap_or(&zeros);
        let k = task.classes.len();
        let mut score = |batch: &[RgbImage]| -> Result<Vec<f32>> {
            let mut set = Encoding::feature_set(task.size, width);
            for values in self.encoding.encode_images(batch, task.size)? {
                set.push_with_side(&values, side, 0)?;
            }
            let mut views = Vec::new();
            if let Some(held) = &held {
                let mut same = Encoding::feature_set(task.size, width);
                for _ in batch {
                    same.push_with_side(held, side, 0)?;
                }
                views.push(same);
            }
            if let Some(centre) = centre {
                for s in std::iter::once(&mut set).chain(views.iter_mut()) {
                    s.map_examples(|example| subtract(example, centre))?;
                }
            }
            // The first-lead picture is the view; the two-lead picture the set.
            if from_first_lead && first_lead.is_some() {
                std::mem::swap(&mut set, &mut views[0]);
            }
            let (_, probs) = self.answer_views(task, &set, &views)?;
            Ok(probs.chunks_exact(k).map(|r| r[class]).collect())
        };
        let map = occlusion_map(&shown.image, &mut score)?;
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let stem = format!("{}{tag}", own.stem);
        let file = out.join(format!("{stem}_heat.png"));
        let caption = format!("{} {:.2}", task.classes[class], map.base);
        save_overlay(&shown.image, &map, &caption, &file)?;
        write_json(&out.join(format!("{stem}_heat.json")), &map)?;
        Ok(file)
    }
}
