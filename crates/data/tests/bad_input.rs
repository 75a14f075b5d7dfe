//! Damaged files and odd folders: clear errors or warnings naming them, never a panic.

use std::path::Path;

use medpath_data::{DataError, ImageDataset, load_rgb};

/// Writes a real JPEG of a gradient.
fn write_jpeg(path: &Path) {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    img.save(path).unwrap();
}

#[test]
fn corrupt_truncated_and_fake_images_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.jpeg");
    write_jpeg(&good);
    assert!(load_rgb(&good).is_ok());

    let bytes = std::fs::read(&good).unwrap();
    let truncated = tmp.path().join("truncated.jpeg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let corrupt = tmp.path().join("corrupt.jpeg");
    let mut damaged = bytes.clone();
    for b in damaged.iter_mut().skip(200).take(400) {
        *b = 0xFF;
    }
    std::fs::write(&corrupt, &damaged).unwrap();
    let text = tmp.path().join("notes.jpeg");
    std::fs::write(&text, "this is not an image").unwrap();

    for path in [&truncated, &corrupt, &text] {
        match load_rgb(path) {
            Err(err @ DataError::Decode { .. }) => {
                let msg = err.to_string();
                assert!(
                    msg.contains(path.file_name().unwrap().to_str().unwrap()),
                    "{msg}"
                );
            }
            Err(other) => panic!("{}: unexpected error kind {other}", path.display()),
            // Some corruptions still decode (JPEG is forgiving); the bytes must then give a picture.
            Ok((img, _)) => assert!(
                path == &corrupt && img.width == 64,
                "{} decoded",
                path.display()
            ),
        }
    }
    let missing = load_rgb(&tmp.path().join("absent.png"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("absent.png"), "{missing}");
}

#[test]
fn empty_class_single_class_stray_files_and_empty_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir_all(root.join("cats")).unwrap();
    std::fs::create_dir_all(root.join("dogs")).unwrap();
    write_jpeg(&root.join("cats/a.jpg"));
    std::fs::write(root.join("cats/readme.txt"), "x").unwrap();
    let ds = ImageDataset::scan(&root).unwrap();
    assert_eq!(ds.classes, vec!["cats", "dogs"]);
    assert_eq!(ds.class_counts(), vec![1, 0]);
    let warnings = ds.warnings.join("\n");
    assert!(warnings.contains("dogs: empty class folder"), "{warnings}");
    assert!(warnings.contains("readme.txt: skipped"), "{warnings}");
    assert!(warnings.contains("only 1 class with images"), "{warnings}");
    let err = ds.check_trainable().unwrap_err().to_string();
    assert!(
        err.contains("data") && err.contains("at least two"),
        "{err}"
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = ImageDataset::scan(&empty).unwrap_err().to_string();
    assert!(err.contains("no class folders"), "{err}");
    std::fs::create_dir_all(empty.join("x")).unwrap();
    let err = ImageDataset::scan(&empty).unwrap_err().to_string();
    assert!(err.contains("no images"), "{err}");
    let err = ImageDataset::scan(&tmp.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("not a folder"),
        "{err}"
    );
}

#[test]
fn kermany_layout_with_tiny_val_carves_a_real_one() {
    use medpath_data::{SplitPlan, assign_splits, content_hashes};
    use medpath_split::Role;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for split in ["train", "val", "test"] {
        for class in ["NORMAL", "PNEUMONIA"] {
            std::fs::create_dir_all(root.join(split).join(class)).unwrap();
        }
    }
    let base = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8, y as u8, 0]));
    let mut n = 0u8;
    let mut save = |path: std::path::PathBuf| {
        let mut img = base.clone();
        img.put_pixel(0, 0, image::Rgb([n, n / 2, 1]));
        n = n.wrapping_add(1);
        img.save(path).unwrap();
    };
    for p in 0..40 {
        save(root.join(format!("train/PNEUMONIA/person{p}_bacteria_{}.png", p * 2)));
        save(root.join(format!("train/PNEUMONIA/person{p}_virus_{}.png", p * 2 + 1)));
        save(root.join(format!("train/NORMAL/IM-{p:04}-0001.png")));
    }
    save(root.join("val/NORMAL/IM-9000-0001.png"));
    save(root.join("val/PNEUMONIA/person900_virus_1.png"));
    save(root.join("test/NORMAL/IM-9100-0001.png"));
    save(root.join("test/PNEUMONIA/person910_virus_1.png"));
    // A byte-identical copy of a training image under another patient's name.
    std::fs::copy(
        root.join("train/NORMAL/IM-0003-0001.png"),
        root.join("train/NORMAL/IM-0777-0001.png"),
    )
    .unwrap();
    let ds = ImageDataset::scan(root).unwrap();
    let hashes = content_hashes(&ds).unwrap();
    let split = assign_splits(
        &ds,
        &hashes,
        &SplitPlan {
            val_fraction: 0.25,
            test_fraction: 0.2,
            seed: 1,
        },
    );
    assert!(
        split.notes.iter().any(|n| n.contains("only 2 images")),
        "{:?}",
        split.notes
    );
    let test = split.roles.iter().filter(|r| **r == Role::Test).count();
    assert_eq!(test, 2, "official test stays as it is");
    let val = split.roles.iter().filter(|r| **r == Role::Val).count();
    assert!((25..=35).contains(&val), "val {val}");
    let role = |name: &str| {
        split.roles[ds
            .entries
            .iter()
            .position(|e| e.path.ends_with(name))
            .unwrap()]
    };
    assert_eq!(role("IM-0003-0001.png"), role("IM-0777-0001.png"));
    assert!(split.straddling_groups.is_empty());
}
