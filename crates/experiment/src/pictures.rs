//! The pictures a run encodes, drawn where they are needed: an image file is read by the
//! encoder, a beat is drawn in memory by its task's record pipeline (no picture files), one
//! record read and transformed at a time.

use std::sync::Arc;

use medpath_data::{PixelImage, RgbImage};
use medpath_ecg::{Picture, TransformedRecord};
use medpath_model::ViewRequest;

use medpath_infer::pixel_image;

use crate::error::{Error, Result};
use crate::tasks::{Input, PreparedTask};

/// Which picture of an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureOf {
    /// The example itself.
    Own,
    /// Augmented view `k` (from 1): an image's encoder augmentation, a beat's redrawn signal.
    View(usize),
    /// A beat drawn with its first lead alone.
    FirstLead,
}

/// Draws the pictures of one task's inputs, keeping the last record it read.
pub struct Drawer<'a> {
    /// The task whose beats are drawn (none: image files only).
    task: Option<&'a PreparedTask>,
    current: Option<(usize, TransformedRecord)>,
}

impl<'a> Drawer<'a> {
    /// A drawer for `task`'s inputs.
    pub fn new(task: &'a PreparedTask) -> Drawer<'a> {
        Drawer {
            task: Some(task),
            current: None,
        }
    }

    /// A drawer for image files of no task.
    pub fn files() -> Drawer<'static> {
        Drawer {
            task: None,
            current: None,
        }
    }

    /// The task and its record pipeline, for drawing beats.
    fn beat_task(&self) -> Result<(&'a PreparedTask, &'a medpath_ecg::EcgPipeline)> {
        let task = self
            .task
            .ok_or_else(|| Error::Config("a beat input without its task".into()))?;
        let pipeline = task.pipeline.as_ref().ok_or_else(|| {
            Error::task(
                &task.name,
                "a beat input in a task without a record pipeline",
            )
        })?;
        Ok((task, pipeline))
    }

    /// The transformed record `record` of the task (read once while consecutive requests ask
    /// for it).
    fn record(&mut self, record: usize) -> Result<&TransformedRecord> {
        if self.current.as_ref().is_none_or(|(r, _)| *r != record) {
            let (task, pipeline) = self.beat_task()?;
            let path = task.records.get(record).ok_or_else(|| {
                Error::task(&task.name, format!("no record #{record} in the task"))
            })?;
            self.current = Some((record, pipeline.read_and_transform(path)?));
        }
        Ok(&self.current.as_ref().expect("just set").1)
    }

    /// The beat picture `which` of the beat at `sample` of record `record`.
    fn beat(&mut self, record: usize, sample: i64, which: PictureOf) -> Result<PixelImage> {
        let (task, pipeline) = self.beat_task()?;
        let beats = self.record(record)?;
        let i = beats.beat_at(sample).ok_or_else(|| {
            Error::task(
                &task.name,
                format!(
                    "record {}: no beat at sample {sample} (the record changed since the task was prepared?)",
                    beats.name
                ),
            )
        })?;
        let picture = match which {
            PictureOf::Own => Picture::Own,
            PictureOf::View(k) => Picture::View(k),
            PictureOf::FirstLead => Picture::FirstLead,
        };
        Ok(pixel_image(pipeline.picture(&beats.beats[i], picture)?))
    }

    /// The encoder request for picture `which` of `input`.
    pub fn request(&mut self, input: &Input, which: PictureOf) -> Result<ViewRequest> {
        match (input, which) {
            (Input::File(path), PictureOf::Own) => Ok(ViewRequest::file(path.clone())),
            (Input::File(path), PictureOf::View(k)) => Ok(ViewRequest::file_view(path.clone(), k)),
            (Input::File(path), PictureOf::FirstLead) => Err(Error::run(
                path,
                "an image file has no first-lead picture (ECG beats only)",
            )),
            (Input::Beat { record, sample }, _) => {
                let image = self.beat(*record, *sample, which)?;
                let name = self.beat_task()?.0.describe_input(input);
                Ok(ViewRequest::pixels(name, Arc::new(image)))
            }
        }
    }

    /// The picture `which` of `input` as the encoder's preprocessing receives it (a file
    /// decoded, a beat drawn), for sample sheets and heat maps. Augmented image views are not
    /// drawn here.
    pub fn image(&mut self, input: &Input, which: PictureOf) -> Result<RgbImage> {
        match input {
            Input::File(path) => medpath_data::load_rgb(path)
                .map(|(image, _)| image)
                .map_err(|e| Error::run(path, format!("cannot read it: {e}"))),
            Input::Beat { record, sample } => Ok(self.beat(*record, *sample, which)?.to_rgb()),
        }
    }
}
