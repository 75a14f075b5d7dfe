//! Classes from a CSV beside the images or from the images' file names: the data set they give,
//! and every bad row named by file and line.

use std::path::Path;

use medpath_data::{ImageDataset, LabelSource, Layout};
use medpath_split::Role;

fn write_png(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 9]))
        .save(path)
        .unwrap();
}

fn classes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn load_csv(dir: &Path, text: &str, allowed: &[&str]) -> Result<ImageDataset, String> {
    let csv = dir.join("labels.csv");
    std::fs::write(&csv, text).unwrap();
    ImageDataset::load(dir, &LabelSource::Csv(csv), &classes(allowed)).map_err(|e| e.to_string())
}

#[test]
fn a_labels_csv_gives_classes_patients_and_splits() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a.png", "b.png", "img/c.png", "img/d.png"] {
        write_png(&tmp.path().join(name));
    }
    let text = "path,label,patient,split\na.png,virus,p1,train\nb.png,bacteria,p2,\n\
                img/c.png,virus,p1,train\nimg/d.png,bacteria,,test\n";
    let set = load_csv(tmp.path(), text, &[]).unwrap();
    assert_eq!(set.layout, Layout::Csv);
    assert_eq!(set.classes, classes(&["bacteria", "virus"]));
    assert_eq!(set.class_counts(), vec![2, 2]);
    let a = &set.entries[0];
    assert!(a.path.ends_with("a.png"));
    assert_eq!(
        (a.class, a.patient.as_str(), a.given_split),
        (1, "p1", Some(Role::Train))
    );
    let d = set
        .entries
        .iter()
        .find(|e| e.path.ends_with("d.png"))
        .unwrap();
    assert_eq!(d.given_split, Some(Role::Test));
    // Without a patient column the patient comes from the file name, as with folders.
    assert!(!d.patient.is_empty());
    // Columns in any order, any case; a declared class list may hold classes without rows.
    let reordered = "Label,Path\nvirus,a.png\nbacteria,b.png\n";
    let set = load_csv(tmp.path(), reordered, &["virus", "bacteria", "fungal"]).unwrap();
    assert_eq!(set.classes, classes(&["bacteria", "fungal", "virus"]));
    assert_eq!(set.class_counts(), vec![1, 0, 1]);
}

#[test]
fn every_bad_row_is_named_by_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_png(&tmp.path().join("a.png"));
    write_png(&tmp.path().join("b.png"));
    std::fs::write(tmp.path().join("notes.txt"), "not an image").unwrap();
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "path,label\na.png,virus\nmissing.png,virus\n",
            &[],
            "line 3: image",
        ),
        (
            "path,label\na.png,virus\nb.png,fungal\n",
            &["virus", "bacteria"],
            "line 3: label `fungal` is not one of bacteria, virus",
        ),
        (
            "path,label,patient,split\na.png,virus,p1,train\nb.png,virus,p1,test\n",
            &[],
            "line 3: patient `p1` is in split test here but in split train on line 2",
        ),
        (
            "path,label,split\na.png,virus,holdout\n",
            &[],
            "line 2: split `holdout`",
        ),
        ("file,label\na.png,virus\n", &[], "line 1: no `path` column"),
        ("path,label\n", &[], "no rows after the header"),
        ("path,label\nnotes.txt,virus\n", &[], "line 2:"),
    ];
    for (text, allowed, expected) in cases {
        let err = load_csv(tmp.path(), text, allowed).unwrap_err();
        assert!(
            err.contains("labels.csv") && err.contains(expected),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn the_file_name_rule_reads_the_class_from_a_word_of_the_name() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "person1_bacteria_2.png",
        "person1_bacteria_3.png",
        "x/person7_virus_1.png",
    ] {
        write_png(&tmp.path().join(name));
    }
    let allowed = classes(&["virus", "bacteria"]);
    let set = ImageDataset::load(tmp.path(), &LabelSource::FileNames, &allowed).unwrap();
    assert_eq!(set.layout, Layout::FileNames);
    assert_eq!(set.classes, classes(&["bacteria", "virus"]));
    assert_eq!(set.class_counts(), vec![2, 1]);
    assert_eq!(set.entries[0].patient, "person1");
    // A file that names no class (or two) is an error naming it.
    write_png(&tmp.path().join("person9_normal_1.png"));
    let err = ImageDataset::load(tmp.path(), &LabelSource::FileNames, &allowed).unwrap_err();
    assert!(
        err.to_string()
            .contains("person9_normal_1.png: its name names none of"),
        "{err}"
    );
    let err = ImageDataset::load(tmp.path(), &LabelSource::FileNames, &[]).unwrap_err();
    assert!(err.to_string().contains("needs the class names"), "{err}");
    assert_eq!(
        LabelSource::parse(Some("file-names")),
        LabelSource::FileNames
    );
    assert_eq!(LabelSource::parse(None), LabelSource::Folders);
}
