//! Network and optimiser state on disk: one safetensors file with the parameters, Adam's moments
//! and any extra vectors, plus JSON metadata describing the network and the caller's progress.
//! Files are written to a temporary name and renamed, so a killed run never leaves half a file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::network::SuperNet;
use crate::train::Adam;

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The network, parameters included.
    pub net: SuperNet,
    /// The optimiser, moments included (absent in a weights-only file).
    pub adam: Option<Adam>,
    /// Further named vectors (for example the best weights seen so far).
    pub extra: BTreeMap<String, Vec<f32>>,
    /// The caller's progress as JSON.
    pub state: String,
}

fn bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn floats(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn file_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::File {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Writes `checkpoint` to `path` atomically.
pub fn save(path: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let mut tensors: Vec<(String, Vec<u8>, usize)> = vec![(
        "params".into(),
        bytes(&checkpoint.net.params),
        checkpoint.net.params.len(),
    )];
    if let Some(adam) = &checkpoint.adam {
        tensors.push(("adam.m".into(), bytes(&adam.m), adam.m.len()));
        tensors.push(("adam.v".into(), bytes(&adam.v), adam.v.len()));
    }
    for (name, values) in &checkpoint.extra {
        tensors.push((format!("extra.{name}"), bytes(values), values.len()));
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, data, len)| {
            let view = TensorView::new(Dtype::F32, vec![*len], data).expect("length matches");
            (name.clone(), view)
        })
        .collect();
    let json = |value: serde_json::Result<String>| value.expect("plain data serialises");
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), "medpath-pathnet 1".to_string());
    metadata.insert(
        "network".to_string(),
        json(serde_json::to_string(&checkpoint.net)),
    );
    if let Some(adam) = &checkpoint.adam {
        metadata.insert("adam".to_string(), json(serde_json::to_string(adam)));
    }
    metadata.insert("state".to_string(), checkpoint.state.clone());
    let buffer = safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| file_error(path, e.to_string()))?;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, buffer).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// Writes the network alone (no optimiser, no progress): a finished model's weights.
pub fn save_weights(path: &Path, net: &SuperNet) -> Result<()> {
    save(
        path,
        &Checkpoint {
            net: net.clone(),
            adam: None,
            extra: BTreeMap::new(),
            state: "{}".into(),
        },
    )
}

/// Whether the network's parameters fill its blocks exactly.
fn check_params(net: &SuperNet) -> std::result::Result<(), String> {
    let expected: usize = net.blocks.iter().map(|b| b.len()).sum();
    let consistent = net
        .blocks
        .iter()
        .all(|b| b.offset + b.len() <= net.params.len());
    if net.params.len() != expected || !consistent {
        return Err(format!(
            "`params` has {} values, the network it describes needs {expected}",
            net.params.len()
        ));
    }
    Ok(())
}

/// Reads a checkpoint written by [`save`], checking that every tensor fits the network it
/// describes.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let buffer = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let tensors = SafeTensors::deserialize(&buffer)
        .map_err(|e| file_error(path, format!("not a safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&buffer)
        .map_err(|e| file_error(path, format!("not a safetensors file: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    if metadata.get("format").map(String::as_str) != Some("medpath-pathnet 1") {
        return Err(file_error(
            path,
            format!(
                "not a medpath path-network file (format {:?}, expected \"medpath-pathnet 1\")",
                metadata.get("format")
            ),
        ));
    }
    let field = |name: &str| {
        metadata
            .get(name)
            .ok_or_else(|| file_error(path, format!("metadata field `{name}` is missing")))
    };
    let read = |name: &str| -> Result<Vec<f32>> {
        let view = tensors
            .tensor(name)
            .map_err(|_| file_error(path, format!("tensor `{name}` is missing")))?;
        if view.dtype() != Dtype::F32 {
            return Err(file_error(
                path,
                format!("tensor `{name}` is {:?}, expected F32", view.dtype()),
            ));
        }
        Ok(floats(view.data()))
    };
    let mut net: SuperNet = serde_json::from_str(field("network")?)
        .map_err(|e| file_error(path, format!("network description: {e}")))?;
    net.params = read("params")?;
    check_params(&net).map_err(|m| file_error(path, m))?;
    let adam = match metadata.get("adam") {
        Some(text) => {
            let mut adam: Adam = serde_json::from_str(text)
                .map_err(|e| file_error(path, format!("optimiser description: {e}")))?;
            adam.m = read("adam.m")?;
            adam.v = read("adam.v")?;
            if adam.m.len() != net.params.len() || adam.v.len() != net.params.len() {
                return Err(file_error(
                    path,
                    "optimiser moments do not match the parameters",
                ));
            }
            Some(adam)
        }
        None => None,
    };
    let mut extra = BTreeMap::new();
    for name in tensors.names() {
        if let Some(key) = name.strip_prefix("extra.") {
            extra.insert(key.to_string(), read(name)?);
        }
    }
    Ok(Checkpoint {
        net,
        adam,
        extra,
        state: field("state")?.clone(),
    })
}

/// The one resume-and-save routine of the long loops (path search, path training): where
/// their checkpoint lives (or that there is none), what the loop is called in messages, and
/// how its progress state `S` is written and read back.
#[derive(Debug, Clone, Copy)]
pub struct Resumable<'a> {
    /// The checkpoint file; `None` runs without checkpoints.
    pub file: Option<&'a Path>,
    /// What the loop is, for messages ("search", "training").
    pub what: &'static str,
}

/// What [`Resumable::resume`] restores: the network and optimiser as saved, the named extra
/// vectors and the loop's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed<S> {
    /// The network, parameters included.
    pub net: SuperNet,
    /// The optimiser, moments included.
    pub adam: Adam,
    /// Further named vectors.
    pub extra: BTreeMap<String, Vec<f32>>,
    /// The loop's progress.
    pub state: S,
}

impl Resumable<'_> {
    fn error(&self, reason: String) -> Error {
        file_error(self.file.unwrap_or(Path::new("")), reason)
    }

    /// Reads the checkpoint when it exists. `same_run` says whether a saved state belongs to the
    /// loop being started (same settings, same task); a checkpoint of another run is an error
    /// rather than silently continued or overwritten.
    pub fn resume<S: serde::de::DeserializeOwned>(
        &self,
        same_run: impl FnOnce(&S) -> bool,
    ) -> Result<Option<Resumed<S>>> {
        let Some(file) = self.file.filter(|f| f.exists()) else {
            return Ok(None);
        };
        let saved = load(file)?;
        let what = self.what;
        let state: S = serde_json::from_str(&saved.state)
            .map_err(|e| self.error(format!("{what} state: {e}")))?;
        if !same_run(&state) {
            return Err(self.error(format!(
                "this {what} checkpoint was written with other settings; remove it to start over"
            )));
        }
        let adam = saved
            .adam
            .ok_or_else(|| self.error(format!("{what} checkpoint without optimiser state")))?;
        Ok(Some(Resumed {
            net: saved.net,
            adam,
            extra: saved.extra,
            state,
        }))
    }

    /// The extra vector `name` of a resumed checkpoint, or an error naming the file.
    pub fn extra<S>(&self, resumed: &mut Resumed<S>, name: &str) -> Result<Vec<f32>> {
        let what = self.what;
        resumed
            .extra
            .remove(name)
            .ok_or_else(|| self.error(format!("{what} checkpoint without `{name}`")))
    }

    /// Saves the loop's progress (nothing without a file).
    pub fn save<S: serde::Serialize>(
        &self,
        (net, adam): (&SuperNet, &Adam),
        extra: BTreeMap<String, Vec<f32>>,
        state: &S,
    ) -> Result<()> {
        let Some(file) = self.file else {
            return Ok(());
        };
        let state = serde_json::to_string(state)
            .map_err(|e| self.error(format!("{} state: {e}", self.what)))?;
        save(
            file,
            &Checkpoint {
                net: net.clone(),
                adam: Some(adam.clone()),
                extra,
                state,
            },
        )
    }
}
