//! One shard of the features a run needs: `medpath encode --experiment EXP --shard I/N`.
//!
//! Every picture that `run` would ask the encoder for (each task's examples and augmented
//! views, record-centring beats, the router's pictures and the generated out-of-distribution
//! set) belongs to the shard given by its content hash. N processes started at once, on one
//! machine or many sharing the cache folder, fill the cache between them; `run` then finds every
//! feature there. Heat maps (occluded copies that exist only in memory) are still computed by
//! `run`.

use std::path::Path;

use medpath_data::AugmentConfig;

use crate::config::Experiment;
use crate::dataset::{centre_pictures, task_augmentation, task_pictures};
use crate::error::{Error, Result};
use crate::pictures::{Drawer, PictureOf};
use crate::run::{prepare_task, router_choice, router_pictures};
use crate::tasks::{Input, PreparedTask};
use medpath_infer::encoder::{Encoding, no_augmentation};
use medpath_runkit::Reporter;

/// What one shard did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSummary {
    /// Pictures of this shard.
    pub pictures: usize,
    /// Pictures the whole run needs.
    pub of: usize,
}

/// One batch of pictures that share a task, a size and an augmentation.
struct Batch<'a> {
    label: String,
    task: Option<&'a PreparedTask>,
    pictures: Vec<(&'a Input, PictureOf)>,
    size: usize,
    augment: AugmentConfig,
}

/// Every batch of pictures the tasks of `prepared` need encoded, in `run`'s order.
fn task_batches<'a>(e: &Experiment, prepared: &'a [PreparedTask]) -> Vec<Batch<'a>> {
    let mut batches = Vec::new();
    for task in prepared {
        let pictures = task_pictures(task)
            .into_iter()
            .map(|(i, p)| (&task.examples[i].input, p))
            .collect();
        batches.push(Batch {
            label: format!("{} encode", task.name),
            task: Some(task),
            pictures,
            size: task.size,
            augment: task_augmentation(task),
        });
        batches.push(Batch {
            label: format!("{} encode centres", task.name),
            task: Some(task),
            pictures: centre_pictures(task),
            size: task.size,
            augment: no_augmentation(),
        });
    }
    if prepared.len() > 1 {
        for (t, task) in prepared.iter().enumerate() {
            batches.push(Batch {
                label: format!("router encode {}", task.name),
                task: Some(task),
                pictures: router_pictures(task, &router_choice(e, t, task)),
                size: e.router.size,
                augment: no_augmentation(),
            });
        }
    }
    batches
}

/// Prepares every task under `work` and encodes shard `shard` (0-based) of `shards` of
/// everything `run` would encode into the experiment's cache.
pub fn encode_shard(
    e: &Experiment,
    work: &Path,
    (shard, shards): (usize, usize),
    reporter: &mut dyn Reporter,
) -> Result<ShardSummary> {
    let enc = Encoding::load(&e.encoder, &mut |w| reporter.warn(&w))?;
    let mut prepared = Vec::new();
    for (i, name) in e.task_order().iter().enumerate() {
        prepared.push(prepare_task(e, work, i, name, reporter)?);
    }
    let ood_files;
    let ood_inputs: Vec<Input>;
    let mut batches = task_batches(e, &prepared);
    if e.novelty.enabled {
        ood_files = crate::ood::write_ood_set(&work.join("ood"), e.seed)?;
        ood_inputs = ood_files.iter().cloned().map(Input::File).collect();
        batches.push(Batch {
            label: "novelty: encode generated pictures".into(),
            task: None,
            pictures: ood_inputs.iter().map(|i| (i, PictureOf::Own)).collect(),
            size: if prepared.len() > 1 {
                e.router.size
            } else {
                prepared[0].size
            },
            augment: no_augmentation(),
        });
    }
    let mut summary = ShardSummary { pictures: 0, of: 0 };
    for batch in batches {
        summary.of += batch.pictures.len();
        let (encoded, total) = encode_mine(&enc, &batch, (shard, shards), reporter)?;
        summary.pictures += total;
        if !encoded.is_empty() {
            reporter.warn(&format!(
                "{}: {} inputs could not be read (run leaves them out too), e.g. {}",
                batch.label,
                encoded.len(),
                encoded[0]
            ));
        }
    }
    Ok(summary)
}

/// Encodes the pictures of `batch` that belong to shard `shard` of `shards` (by content
/// hash); returns the reasons for pictures that could not be read and how many were this
/// shard's.
fn encode_mine(
    enc: &Encoding,
    batch: &Batch<'_>,
    (shard, shards): (usize, usize),
    reporter: &mut dyn Reporter,
) -> Result<(Vec<String>, usize)> {
    let mut drawer = match batch.task {
        Some(task) => Drawer::new(task),
        None => Drawer::files(),
    };
    let mut mine = Vec::new();
    for (input, which) in &batch.pictures {
        let request = drawer.request(input, *which)?;
        let digest = request.source.digest().map_err(Error::Config)?;
        if medpath_cache::shard_of_digest(&digest, shards) == shard {
            mine.push(request);
        }
    }
    let total = mine.len();
    let (_, failed) = enc.features(&mine, batch.size, batch.augment, &mut |done| {
        reporter.progress(&batch.label, done, total)
    })?;
    reporter.progress(&batch.label, total, total);
    Ok((failed, total))
}
