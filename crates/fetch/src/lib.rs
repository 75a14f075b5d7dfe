//! Resumable, checksum-verified downloads of published VGG-16 weights.
//!
//! A download goes to `<file>.part`; when that exists, the transfer continues from its end with
//! an HTTP `Range` request (a server that ignores ranges restarts it). Only a complete file whose
//! SHA-256 matches is renamed to its final name, so an interrupted or corrupted transfer never
//! leaves a file that looks finished.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Published weights medpath knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownWeights {
    /// Short name (`torchvision`, `timm`).
    pub name: &'static str,
    /// Where the file is published.
    pub url: &'static str,
    /// File name to save it as.
    pub file: &'static str,
    /// Expected SHA-256 or a prefix of it (torchvision puts the first 8 hex digits in the name).
    pub sha256_prefix: Option<&'static str>,
    /// Preprocessing the weights were trained with.
    pub preprocess: &'static str,
}

/// torchvision's VGG-16 (IMAGENET1K_V1); the file name carries its SHA-256 prefix.
pub const TORCHVISION_VGG16: KnownWeights = KnownWeights {
    name: "torchvision",
    url: "https://download.pytorch.org/models/vgg16-397923af.pth",
    file: "vgg16-397923af.pth",
    sha256_prefix: Some("397923af"),
    preprocess: "torchvision",
};

/// timm's `vgg16.tv_in1k` (the torchvision weights as safetensors); no published checksum.
pub const TIMM_VGG16: KnownWeights = KnownWeights {
    name: "timm",
    url: "https://huggingface.co/timm/vgg16.tv_in1k/resolve/main/model.safetensors",
    file: "vgg16.tv_in1k.safetensors",
    sha256_prefix: None,
    preprocess: "torchvision",
};

/// What can go wrong downloading.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The transfer failed (network, server error).
    #[error("{url}: {message}")]
    Transfer {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The downloaded bytes do not have the expected checksum (the partial file is removed).
    #[error("{url}: checksum mismatch: SHA-256 {actual} does not start with {expected}")]
    Checksum {
        /// The URL.
        url: String,
        /// The expected SHA-256 (or prefix).
        expected: String,
        /// The SHA-256 of what arrived.
        actual: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, FetchError>;

/// Progress of a download: bytes so far and the total when the server says it.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// One transfer attempt, appending to `part` from its current length.
fn transfer(url: &str, part: &Path, progress: Progress<'_>) -> Result<()> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = ureq::get(url).timeout(std::time::Duration::from_secs(60));
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let transfer_err = |message: String| FetchError::Transfer {
        url: url.to_string(),
        message,
    };
    let response = match request.call() {
        Ok(r) => r,
        // The part already holds the whole file.
        Err(ureq::Error::Status(416, _)) => return Ok(()),
        Err(e) => return Err(transfer_err(e.to_string())),
    };
    let resumed = response.status() == 206;
    let length: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let total = length.map(|l| if resumed { l + have } else { l });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(part)
        .map_err(io_err(part))?;
    let mut done = if resumed { have } else { 0 };
    let mut reader = response.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| transfer_err(format!("interrupted after {done} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(io_err(part))?;
        done += n as u64;
        progress(done, total);
    }
    file.flush().map_err(io_err(part))?;
    if let Some(total) = total
        && done < total
    {
        return Err(transfer_err(format!(
            "interrupted after {done} of {total} bytes"
        )));
    }
    Ok(())
}

/// Downloads `url` to `dest`, resuming a previous `dest.part`, retrying an interrupted transfer
/// up to `attempts` times, and checking the SHA-256 against `sha256_prefix` (a full hash or a
/// prefix) when given. Returns the file's SHA-256.
pub fn download(
    url: &str,
    dest: &Path,
    sha256_prefix: Option<&str>,
    attempts: usize,
    progress: Progress<'_>,
) -> Result<String> {
    let part = dest.with_file_name(format!(
        "{}.part",
        dest.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut last_error = None;
    for _ in 0..attempts.max(1) {
        match transfer(url, &part, progress) {
            Ok(()) => {
                last_error = None;
                break;
            }
            Err(e @ FetchError::Transfer { .. }) => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = last_error {
        return Err(e);
    }
    let actual = sha256_file(&part)?;
    if let Some(expected) = sha256_prefix
        && !actual.starts_with(&expected.to_ascii_lowercase())
    {
        let _ = std::fs::remove_file(&part);
        return Err(FetchError::Checksum {
            url: url.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    std::fs::rename(&part, dest).map_err(io_err(dest))?;
    Ok(actual)
}
