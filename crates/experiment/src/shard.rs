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
use medpath_model::ViewRequest;

use crate::config::Experiment;
use crate::dataset::{centre_requests, task_augmentation, task_requests};
use crate::encoding::{Encoding, no_augmentation};
use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::run::{prepare_task, router_choice, router_requests};

/// What one shard did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSummary {
    /// Pictures of this shard.
    pub pictures: usize,
    /// Pictures the whole run needs.
    pub of: usize,
}

/// One batch of encoder requests that share a size and an augmentation.
struct Batch {
    label: String,
    requests: Vec<ViewRequest>,
    size: usize,
    augment: AugmentConfig,
}

/// Prepares every task under `work` (beat pictures are drawn there) and encodes shard `shard`
/// (0-based) of `shards` of everything `run` would encode into the experiment's cache.
pub fn encode_shard(
    e: &Experiment,
    work: &Path,
    (shard, shards): (usize, usize),
    reporter: &mut dyn Reporter,
) -> Result<ShardSummary> {
    let enc = Encoding::load(&e.encoder, &mut |w| reporter.warn(&w))?;
    let mut batches = Vec::new();
    let mut prepared = Vec::new();
    for (i, name) in e.task_order().iter().enumerate() {
        let task = prepare_task(e, work, i, name, reporter)?;
        batches.push(Batch {
            label: format!("{name} encode"),
            requests: task_requests(&task).0,
            size: task.size,
            augment: task_augmentation(&task),
        });
        batches.push(Batch {
            label: format!("{name} encode centres"),
            requests: centre_requests(&task),
            size: task.size,
            augment: no_augmentation(),
        });
        prepared.push(task);
    }
    let routed = prepared.len() > 1;
    if routed {
        for (t, task) in prepared.iter().enumerate() {
            batches.push(Batch {
                label: format!("router encode {}", task.name),
                requests: router_requests(task, &router_choice(e, t, task)),
                size: e.router.size,
                augment: no_augmentation(),
            });
        }
    }
    if e.novelty.enabled {
        let files = crate::ood::write_ood_set(&work.join("ood"), e.seed)?;
        batches.push(Batch {
            label: "novelty: encode generated pictures".into(),
            requests: files
                .into_iter()
                .map(|path| ViewRequest { path, view: 0 })
                .collect(),
            size: if routed {
                e.router.size
            } else {
                prepared[0].size
            },
            augment: no_augmentation(),
        });
    }
    let mut summary = ShardSummary { pictures: 0, of: 0 };
    for batch in batches {
        let mut mine = Vec::new();
        for request in batch.requests {
            let bytes =
                std::fs::read(&request.path).map_err(|err| Error::io(&request.path, err))?;
            summary.of += 1;
            if medpath_cache::shard_of(&bytes, shards) == shard {
                mine.push(request);
            }
        }
        summary.pictures += mine.len();
        let total = mine.len();
        let (_, failed) = enc.features(&mine, batch.size, batch.augment, &mut |done| {
            reporter.progress(&batch.label, done, total)
        })?;
        reporter.progress(&batch.label, total, total);
        if !failed.is_empty() {
            reporter.warn(&format!(
                "{}: {} inputs could not be read (run leaves them out too), e.g. {}",
                batch.label,
                failed.len(),
                failed[0]
            ));
        }
    }
    Ok(summary)
}
