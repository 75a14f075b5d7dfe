//! Finding the images of a data set: the Kermany layout (`root/{train,val,test}/<CLASS>/*`) or a
//! plain ImageFolder (`root/<class>/*`), class names from the folders, sorted.

use std::path::{Path, PathBuf};

use medpath_split::Role;
use serde::Serialize;

use crate::dicom::{DicomInfo, is_dicom_file, read_info};
use crate::error::{DataError, Result};
use crate::patient::patient_id;

/// File extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "dcm", "dicom"];
/// Split folder names of the Kermany layout and the role each stands for.
const SPLIT_FOLDERS: [(&str, Role); 3] = [
    ("train", Role::Train),
    ("val", Role::Val),
    ("test", Role::Test),
];

/// How the data set's folders are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `root/{train,val,test}/<class>/<file>`: splits given by the folders.
    Kermany,
    /// `root/<class>/<file>`: no splits given.
    ImageFolder,
    /// Classes (and optionally patients and splits) from a CSV file beside the images.
    Csv,
    /// Classes from a word of each file's name (`person1_bacteria_2.jpeg` is `bacteria`).
    #[serde(rename = "file-names")]
    FileNames,
}

impl Layout {
    /// How a report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Layout::Kermany => "Kermany layout",
            Layout::ImageFolder => "ImageFolder layout",
            Layout::Csv => "classes from a CSV file",
            Layout::FileNames => "classes from file names",
        }
    }
}

/// One image of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// The file.
    pub path: PathBuf,
    /// Index into [`ImageDataset::classes`].
    pub class: usize,
    /// The split its folder puts it in (Kermany layout only).
    pub given_split: Option<Role>,
    /// The patient id from its file name (see [`crate::patient`]).
    pub patient: String,
}

/// The images of a data set, found by walking its folders.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    /// The folder scanned.
    pub root: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Every image file, in sorted path order.
    pub entries: Vec<ImageEntry>,
    /// Things a user should know: empty class folders, skipped non-image files, missing classes.
    pub warnings: Vec<String>,
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        paths.push(entry.map_err(|e| DataError::io(dir, e))?.path());
    }
    paths.sort();
    Ok(paths)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Whether a path has an image extension (JPEG, PNG, DICOM).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// Whether a file is an image medpath reads: an image extension, or DICOM content (PACS
/// exports often name files without an extension).
pub fn is_image_file(path: &Path) -> bool {
    has_image_extension(path) || is_dicom_file(path)
}

/// The patient an image belongs to: the DICOM Patient ID when the file has one, else the id
/// in its Kermany-style name.
pub fn patient_of(path: &Path) -> String {
    if is_dicom_file(path)
        && let Ok(DicomInfo {
            patient_id: Some(id),
            ..
        }) = read_info(path)
    {
        return id;
    }
    patient_id(path)
}

/// Image files below `dir` (recursively), sorted; other files are reported in `warnings`.
pub(crate) fn image_files(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in read_dir_sorted(dir)? {
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            files.extend(image_files(&path, warnings)?);
        } else if is_image_file(&path) {
            files.push(path);
        } else {
            warnings.push(format!(
                "{}: skipped, not a JPEG, PNG or DICOM file",
                path.display()
            ));
        }
    }
    Ok(files)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(read_dir_sorted(dir)?
        .into_iter()
        .filter(|p| p.is_dir() && !is_hidden(p))
        .collect())
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A class folder: the class's name, the folder, the split its parent names.
type ClassFolder = (String, PathBuf, Option<Role>);

/// The layout of `root` and its class folders, each with the split its parent folder names
/// (Kermany layout) or none (ImageFolder); stray folders and files become warnings.
fn class_folders(root: &Path, warnings: &mut Vec<String>) -> Result<(Layout, Vec<ClassFolder>)> {
    let top = subdirs(root)?;
    let split_dirs: Vec<(PathBuf, Role)> = SPLIT_FOLDERS
        .iter()
        .filter_map(|(name, role)| {
            top.iter()
                .find(|d| name_of(d) == *name)
                .map(|d| (d.clone(), *role))
        })
        .collect();
    let (layout, groups): (Layout, Vec<(PathBuf, Option<Role>)>) = if split_dirs.is_empty() {
        (Layout::ImageFolder, vec![(root.to_path_buf(), None)])
    } else {
        for d in &top {
            if !split_dirs.iter().any(|(s, _)| s == d) {
                warnings.push(format!(
                    "{}: ignored, not a train/val/test folder",
                    d.display()
                ));
            }
        }
        (
            Layout::Kermany,
            split_dirs.into_iter().map(|(d, r)| (d, Some(r))).collect(),
        )
    };
    let mut class_dirs = Vec::new();
    for (dir, role) in &groups {
        for class_dir in subdirs(dir)? {
            class_dirs.push((name_of(&class_dir), class_dir, *role));
        }
        for file in read_dir_sorted(dir)?
            .into_iter()
            .filter(|p| p.is_file() && !is_hidden(p))
        {
            warnings.push(format!(
                "{}: skipped, files must be inside a class folder",
                file.display()
            ));
        }
    }
    Ok((layout, class_dirs))
}

impl ImageDataset {
    /// Scans `root`. It is the Kermany layout when it has a `train`, `val` or `test` folder,
    /// otherwise an ImageFolder whose sub-folders are the classes.
    pub fn scan(root: &Path) -> Result<ImageDataset> {
        if !root.is_dir() {
            return Err(DataError::Layout {
                path: root.to_path_buf(),
                message: "not a folder".into(),
            });
        }
        let mut warnings = Vec::new();
        let (layout, class_dirs) = class_folders(root, &mut warnings)?;
        let mut classes: Vec<String> = class_dirs.iter().map(|(c, _, _)| c.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.is_empty() {
            return Err(DataError::Layout {
                path: root.to_path_buf(),
                message: "no class folders found: expected <class>/<image> or {train,val,test}/<class>/<image>".into(),
            });
        }
        let mut entries = Vec::new();
        for (class_name, class_dir, role) in &class_dirs {
            let files = image_files(class_dir, &mut warnings)?;
            if files.is_empty() {
                warnings.push(format!(
                    "{}: empty class folder (no images)",
                    class_dir.display()
                ));
            }
            let class = classes.iter().position(|c| c == class_name).unwrap_or(0);
            entries.extend(files.into_iter().map(|path| ImageEntry {
                patient: patient_of(&path),
                path,
                class,
                given_split: *role,
            }));
        }
        if entries.is_empty() {
            return Err(DataError::Layout {
                path: root.to_path_buf(),
                message: format!(
                    "no images (JPEG, PNG or DICOM) in the class folders {}",
                    classes.join(", ")
                ),
            });
        }
        Ok(ImageDataset::assemble(
            root, layout, classes, entries, warnings,
        ))
    }

    /// A data set of `entries` (sorted here), with a warning when fewer than two classes have
    /// images.
    pub(crate) fn assemble(
        root: &Path,
        layout: Layout,
        classes: Vec<String>,
        mut entries: Vec<ImageEntry>,
        warnings: Vec<String>,
    ) -> ImageDataset {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let mut dataset = ImageDataset {
            root: root.to_path_buf(),
            layout,
            classes,
            entries,
            warnings,
        };
        let missing = dataset.classes_without_images();
        if dataset.classes.len() - missing.len() < 2 {
            dataset.warnings.push(format!(
                "{}: only {} class with images ({}): a classifier needs at least two",
                root.display(),
                dataset.classes.len() - missing.len(),
                dataset.classes.join(", ")
            ));
        }
        dataset
    }

    /// Number of images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for e in &self.entries {
            counts[e.class] += 1;
        }
        counts
    }

    /// Classes that have no image at all.
    pub fn classes_without_images(&self) -> Vec<String> {
        let counts = self.class_counts();
        self.classes
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n == 0)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Fails unless at least two classes have images: what training needs.
    pub fn check_trainable(&self) -> Result<()> {
        let with_images = self.class_counts().iter().filter(|n| **n > 0).count();
        if with_images < 2 {
            return Err(DataError::Layout {
                path: self.root.clone(),
                message: format!(
                    "{with_images} class with images ({}): a classifier needs at least two",
                    self.classes.join(", ")
                ),
            });
        }
        Ok(())
    }
}
