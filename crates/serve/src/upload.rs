//! A request body to files on disk, in a temporary folder that lives as long as the request:
//! one image (recognised by its content: JPEG, PNG, DICOM), or one WFDB record (its `.hea`,
//! `.dat` and optional `.atr` as multipart parts, or a zip of them).

use std::io::Read;
use std::path::PathBuf;

use tempfile::TempDir;

/// Why an upload cannot be answered; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Not a kind of input the model reads (415).
    #[error("{0}")]
    Unsupported(String),
    /// A malformed upload (400).
    #[error("{0}")]
    Bad(String),
    /// Larger than allowed once unpacked (413).
    #[error("{0}")]
    TooLarge(String),
}

/// What was uploaded.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// An image file.
    Image,
    /// A WFDB record (the path is the record's stem).
    Record,
}

/// An upload on disk.
#[derive(Debug)]
pub struct Staged {
    /// The folder; removed when dropped.
    pub dir: TempDir,
    /// The image file or the record's stem.
    pub path: PathBuf,
    /// The name the caller gave it (or `upload`), used in the answers.
    pub name: String,
    /// Image or record.
    pub input: Input,
}

/// Most files a record upload may hold.
const MAX_FILES: usize = 16;

/// The image format of `bytes`, by content.
pub fn image_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
        Some("dcm")
    } else {
        None
    }
}

/// A file name safe to write: its last component, with anything but letters, digits, `.`,
/// `-` and `_` replaced; never empty and never hidden.
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "upload".into()
    } else {
        cleaned.to_string()
    }
}

/// A new temporary folder.
fn temp_dir() -> Result<TempDir, UploadError> {
    tempfile::Builder::new()
        .prefix("medpath-serve-")
        .tempdir()
        .map_err(|e| UploadError::Bad(format!("cannot make a temporary folder: {e}")))
}

/// Writes `bytes` to `dir/name`.
fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> Result<PathBuf, UploadError> {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes)
        .map_err(|e| UploadError::Bad(format!("cannot store the upload: {e}")))?;
    Ok(path)
}

/// One image, named `name` (or `upload`), with the extension of its format.
pub fn stage_image(name: Option<&str>, bytes: &[u8]) -> Result<Staged, UploadError> {
    let Some(kind) = image_kind(bytes) else {
        return Err(UploadError::Unsupported(
            "not a JPEG, PNG or DICOM image, a WFDB record or a zip of one".into(),
        ));
    };
    let shown = name.map_or_else(|| "upload".to_string(), safe_name);
    let stem = shown.rsplit_once('.').map_or(shown.as_str(), |(s, _)| s);
    let dir = temp_dir()?;
    let path = write(&dir, &format!("{stem}.{kind}"), bytes)?;
    Ok(Staged {
        dir,
        path,
        name: shown,
        input: Input::Image,
    })
}

/// A record from its files (name, bytes): exactly one `.hea`; only `.hea`, `.dat` and `.atr`.
pub fn stage_record(files: Vec<(String, Vec<u8>)>) -> Result<Staged, UploadError> {
    if files.len() > MAX_FILES {
        return Err(UploadError::Bad(format!(
            "{} files: a record has at most {MAX_FILES}",
            files.len()
        )));
    }
    let dir = temp_dir()?;
    let mut headers = Vec::new();
    for (name, bytes) in &files {
        let name = safe_name(name);
        let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        match extension.as_deref() {
            Some("hea") => headers.push(name.clone()),
            Some("dat" | "atr") => {}
            _ => {
                return Err(UploadError::Unsupported(format!(
                    "{name}: a record upload holds .hea, .dat and .atr files only"
                )));
            }
        }
        write(&dir, &name, bytes)?;
    }
    let [header] = headers.as_slice() else {
        return Err(UploadError::Bad(format!(
            "a record upload needs exactly one .hea file, got {}",
            headers.len()
        )));
    };
    let stem = header.trim_end_matches(".hea").to_string();
    Ok(Staged {
        path: dir.path().join(&stem),
        dir,
        name: stem,
        input: Input::Record,
    })
}

/// The files of a zip body, refusing one that unpacks beyond `limit` bytes in all (a zip bomb)
/// or holds more than a record's files.
pub fn unzip(bytes: &[u8], limit: usize) -> Result<Vec<(String, Vec<u8>)>, UploadError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| UploadError::Bad(format!("not a readable zip: {e}")))?;
    if archive.len() > MAX_FILES {
        return Err(UploadError::Bad(format!(
            "the zip holds {} entries: a record has at most {MAX_FILES} files",
            archive.len()
        )));
    }
    let mut files = Vec::new();
    let mut total = 0usize;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| UploadError::Bad(format!("zip entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        let mut content = Vec::new();
        let room = (limit - total) as u64 + 1;
        (&mut entry)
            .take(room)
            .read_to_end(&mut content)
            .map_err(|e| UploadError::Bad(format!("zip entry {name}: {e}")))?;
        total += content.len();
        if total > limit {
            return Err(UploadError::TooLarge(format!(
                "the zip unpacks to more than {limit} bytes"
            )));
        }
        files.push((name, content));
    }
    Ok(files)
}

/// A raw body: an image, or a zip of a record.
pub fn stage_body(bytes: &[u8], limit: usize) -> Result<Staged, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Bad(
            "empty body: send an image or a record".into(),
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return stage_record(unzip(bytes, limit)?);
    }
    stage_image(None, bytes)
}

/// Multipart parts (file name, bytes): a part named `file` holding an image, or a record's files.
pub fn stage_parts(parts: Vec<(Option<String>, Vec<u8>)>) -> Result<Staged, UploadError> {
    let is_record = parts.iter().any(|(name, _)| {
        name.as_deref()
            .is_some_and(|n| n.to_ascii_lowercase().ends_with(".hea"))
    });
    if is_record {
        let files = parts
            .into_iter()
            .map(|(name, bytes)| (name.unwrap_or_default(), bytes))
            .collect();
        return stage_record(files);
    }
    match parts.as_slice() {
        [(name, bytes)] => stage_image(name.as_deref(), bytes),
        [] => Err(UploadError::Bad("no part named `file` in the form".into())),
        _ => Err(UploadError::Bad(format!(
            "{} files: send one image per request, or one record's .hea, .dat and .atr",
            parts.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medpath_testkit::zip_of;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\x\\scan 1.dcm"), "scan_1.dcm");
        assert_eq!(safe_name(".hidden"), "hidden");
        assert_eq!(safe_name(""), "upload");
    }

    #[test]
    fn images_are_recognised_by_content() {
        assert_eq!(image_kind(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("jpeg"));
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        let mut dicom = vec![0u8; 140];
        dicom[128..132].copy_from_slice(b"DICM");
        assert_eq!(image_kind(&dicom), Some("dcm"));
        let text = stage_body(b"hello", 100).unwrap_err();
        assert!(matches!(text, UploadError::Unsupported(_)), "{text}");
        let staged = stage_image(Some("x/chest.jpg"), &[0xFF, 0xD8, 0xFF, 0]).unwrap();
        assert_eq!(staged.name, "chest.jpg");
        assert!(staged.path.ends_with("chest.jpeg"));
    }

    #[test]
    fn a_zip_bomb_and_a_record_without_its_header_are_refused() {
        let big = vec![0u8; 10_000];
        let bomb = zip_of(&[("a.dat", big.clone()), ("b.dat", big)]);
        assert!(bomb.len() < 1_000);
        assert!(matches!(
            stage_body(&bomb, 15_000),
            Err(UploadError::TooLarge(_))
        ));
        let headless = zip_of(&[("100.dat", b"xx".to_vec())]);
        let err = stage_body(&headless, 15_000).unwrap_err();
        assert!(err.to_string().contains("exactly one .hea"), "{err}");
        let record = zip_of(&[
            ("100.hea", b"100 1 360 2\n".to_vec()),
            ("100.dat", b"xx".to_vec()),
        ]);
        let staged = stage_body(&record, 15_000).unwrap();
        assert_eq!(staged.input, Input::Record);
        assert!(staged.path.with_extension("hea").exists());
        let odd = stage_parts(vec![
            (Some("100.hea".into()), vec![]),
            (Some("run.sh".into()), vec![]),
        ]);
        assert!(matches!(odd, Err(UploadError::Unsupported(_))));
    }
}
