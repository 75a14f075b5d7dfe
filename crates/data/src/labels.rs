//! Classes from beside the images instead of from class folders: a CSV file (`path`, `label`,
//! and optionally `patient` and `split` columns) or a rule on file names (a class is named by a
//! word of the file's name, as Kermany's `person1_bacteria_2.jpeg` is `bacteria`). Every bad row
//! is an error that names the file and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medpath_split::Role;

use crate::error::{DataError, Result};
use crate::folder::{ImageDataset, ImageEntry, Layout, image_files, is_image_file, patient_of};

/// Where a data set's classes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelSource {
    /// Class folders (`<class>/<image>` or `{train,val,test}/<class>/<image>`).
    Folders,
    /// A CSV file: `path,label[,patient][,split]`, paths relative to the data set's folder.
    Csv(PathBuf),
    /// A word of each image's file name (words are separated by anything but letters and
    /// digits, compared without case).
    FileNames,
}

impl LabelSource {
    /// `None`: folders; `"file-names"`: the file-name rule; anything else: a CSV file.
    pub fn parse(setting: Option<&str>) -> LabelSource {
        match setting {
            None => LabelSource::Folders,
            Some("file-names") => LabelSource::FileNames,
            Some(path) => LabelSource::Csv(PathBuf::from(path)),
        }
    }
}

impl ImageDataset {
    /// The images of `root` with classes from `labels`. `classes` lists the allowed classes
    /// (required by the file-name rule; for a CSV, a label outside it is an error; ignored for
    /// folders).
    pub fn load(root: &Path, labels: &LabelSource, classes: &[String]) -> Result<ImageDataset> {
        match labels {
            LabelSource::Folders => ImageDataset::scan(root),
            LabelSource::Csv(csv) => from_csv(root, csv, classes),
            LabelSource::FileNames => from_file_names(root, classes),
        }
    }
}

/// A CSV file's error at `line`.
fn row_error(csv: &Path, line: usize, message: String) -> DataError {
    DataError::Layout {
        path: csv.to_path_buf(),
        message: format!("line {line}: {message}"),
    }
}

/// The columns of a labels CSV.
struct Columns {
    path: usize,
    label: usize,
    patient: Option<usize>,
    split: Option<usize>,
}

fn columns(csv: &Path, header: &csv::StringRecord) -> Result<Columns> {
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            row_error(
                csv,
                1,
                format!("no `{name}` column (expected a header path,label[,patient][,split])"),
            )
        })
    };
    Ok(Columns {
        path: need("path")?,
        label: need("label")?,
        patient: find("patient"),
        split: find("split"),
    })
}

/// One data row read: its entry and label.
fn read_row(
    (root, csv): (&Path, &Path),
    line: usize,
    record: &csv::StringRecord,
    columns: &Columns,
) -> Result<(ImageEntry, String)> {
    let field = |i: usize| record.get(i).map(str::trim).unwrap_or("");
    let (file, label) = (field(columns.path), field(columns.label));
    if file.is_empty() || label.is_empty() {
        return Err(row_error(csv, line, "empty path or label".into()));
    }
    let path = root.join(file);
    if !path.is_file() {
        return Err(row_error(
            csv,
            line,
            format!("image {} does not exist", path.display()),
        ));
    }
    if !is_image_file(&path) {
        return Err(row_error(
            csv,
            line,
            format!("{} is not a JPEG, PNG or DICOM file", path.display()),
        ));
    }
    let given_split = match columns.split.map(field).unwrap_or("") {
        "" => None,
        "train" => Some(Role::Train),
        "val" => Some(Role::Val),
        "test" => Some(Role::Test),
        other => {
            return Err(row_error(
                csv,
                line,
                format!("split `{other}`: expected train, val, test or nothing"),
            ));
        }
    };
    let patient = match columns.patient.map(field).unwrap_or("") {
        "" => patient_of(&path),
        id => id.to_string(),
    };
    let entry = ImageEntry {
        path,
        class: 0,
        given_split,
        patient,
    };
    Ok((entry, label.to_string()))
}

/// The rows of a labels CSV, each with its line number.
fn read_rows(root: &Path, csv: &Path) -> Result<Vec<(usize, ImageEntry, String)>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(csv)
        .map_err(|e| row_error(csv, 1, e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| row_error(csv, 1, e.to_string()))?
        .clone();
    let columns = columns(csv, &header)?;
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i + 2, |p| p.line() as usize);
        let record = record.map_err(|e| row_error(csv, line, e.to_string()))?;
        let (entry, label) = read_row((root, csv), line, &record, &columns)?;
        rows.push((line, entry, label));
    }
    if rows.is_empty() {
        return Err(row_error(csv, 2, "no rows after the header".into()));
    }
    Ok(rows)
}

/// A data set of the images under `root` that a labels CSV names.
fn from_csv(root: &Path, csv: &Path, allowed: &[String]) -> Result<ImageDataset> {
    let rows = read_rows(root, csv)?;
    let mut classes: Vec<String> = if allowed.is_empty() {
        rows.iter().map(|(_, _, label)| label.clone()).collect()
    } else {
        allowed.to_vec()
    };
    classes.sort();
    classes.dedup();
    // Where each patient's first row put them, to find a patient on both sides of a split.
    let mut sides: BTreeMap<String, (Option<Role>, usize)> = BTreeMap::new();
    let mut entries = Vec::with_capacity(rows.len());
    for (line, mut entry, label) in rows {
        entry.class = classes.iter().position(|c| *c == label).ok_or_else(|| {
            row_error(
                csv,
                line,
                format!("label `{label}` is not one of {}", classes.join(", ")),
            )
        })?;
        let (side, first) = *sides
            .entry(entry.patient.clone())
            .or_insert((entry.given_split, line));
        if side != entry.given_split {
            return Err(row_error(
                csv,
                line,
                format!(
                    "patient `{}` is in split {} here but in split {} on line {first}: a patient's images must stay on one side",
                    entry.patient,
                    entry.given_split.map_or("(none)", Role::as_str),
                    side.map_or("(none)", Role::as_str)
                ),
            ));
        }
        entries.push(entry);
    }
    Ok(ImageDataset::assemble(
        root,
        Layout::Csv,
        classes,
        entries,
        Vec::new(),
    ))
}

/// The class a file's name names, if exactly one.
fn class_in_name(path: &Path, classes: &[String]) -> std::result::Result<usize, String> {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let words: Vec<String> = stem
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .collect();
    let named: Vec<usize> = (0..classes.len())
        .filter(|&c| words.contains(&classes[c].to_lowercase()))
        .collect();
    match named.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("its name names none of {}", classes.join(", "))),
        _ => Err(format!("its name names several of {}", classes.join(", "))),
    }
}

/// A data set whose classes are words of the image files' names.
fn from_file_names(root: &Path, allowed: &[String]) -> Result<ImageDataset> {
    if allowed.len() < 2 {
        return Err(DataError::Invalid(
            "the file-name rule needs the class names (`classes`, at least two)".into(),
        ));
    }
    if !root.is_dir() {
        return Err(DataError::Layout {
            path: root.to_path_buf(),
            message: "not a folder".into(),
        });
    }
    let mut classes = allowed.to_vec();
    classes.sort();
    classes.dedup();
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    for path in image_files(root, &mut warnings)? {
        let class = class_in_name(&path, &classes).map_err(|message| DataError::Layout {
            path: path.clone(),
            message,
        })?;
        entries.push(ImageEntry {
            patient: patient_of(&path),
            path,
            class,
            given_split: None,
        });
    }
    if entries.is_empty() {
        return Err(DataError::Layout {
            path: root.to_path_buf(),
            message: "no images (JPEG, PNG or DICOM)".into(),
        });
    }
    Ok(ImageDataset::assemble(
        root,
        Layout::FileNames,
        classes,
        entries,
        warnings,
    ))
}
