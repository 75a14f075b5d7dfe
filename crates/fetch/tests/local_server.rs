//! Downloads from a small HTTP server on 127.0.0.1: checksum, resume after an interruption,
//! and a mismatching checksum that leaves nothing behind.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

/// Serves `body` at any path for at most `requests` connections. Honours `Range: bytes=N-`.
/// When `cut_first` is set, the first response announces the full length but stops halfway.
fn serve(
    body: Vec<u8>,
    requests: usize,
    cut_first: bool,
) -> (String, Arc<AtomicUsize>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/vgg16-test.bin", listener.local_addr().unwrap());
    let ranged = Arc::new(AtomicUsize::new(0));
    let ranged_seen = ranged.clone();
    let handle = std::thread::spawn(move || {
        for (i, stream) in listener.incoming().take(requests).enumerate() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut start = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(range) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    start = range.trim().trim_end_matches('-').parse().unwrap();
                    ranged_seen.fetch_add(1, Ordering::SeqCst);
                }
            }
            let rest = &body[start..];
            let status = if start > 0 {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            let header = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                rest.len()
            );
            stream.write_all(header.as_bytes()).unwrap();
            let send = if cut_first && i == 0 {
                &rest[..rest.len() / 2]
            } else {
                rest
            };
            let _ = stream.write_all(send);
        }
    });
    (url, ranged, handle)
}

fn body() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn downloads_resumes_after_an_interruption_and_verifies() {
    let body = body();
    let (url, ranged, server) = serve(body.clone(), 2, true);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("w").join("vgg16-test.bin");
    let mut last = (0, None);
    let hash = medpath_fetch::download(
        &url,
        &dest,
        Some(&sha(&body)[..8]),
        3,
        &mut |done, total| last = (done, total),
    )
    .unwrap();
    server.join().unwrap();
    assert_eq!(hash, sha(&body));
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(
        ranged.load(Ordering::SeqCst),
        1,
        "the second request resumed with a Range header"
    );
    assert_eq!(last, (body.len() as u64, Some(body.len() as u64)));
    assert!(!tmp.path().join("w/vgg16-test.bin.part").exists());
}

#[test]
fn a_wrong_checksum_is_an_error_and_leaves_no_file() {
    let (url, _, server) = serve(body(), 1, false);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("x.bin");
    let err = medpath_fetch::download(&url, &dest, Some("00000000"), 1, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    server.join().unwrap();
    assert!(
        err.contains("checksum mismatch") && err.contains("00000000"),
        "{err}"
    );
    assert!(!dest.exists() && !tmp.path().join("x.bin.part").exists());
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/missing", listener.local_addr().unwrap());
    drop(listener);
    let tmp = tempfile::tempdir().unwrap();
    let err = medpath_fetch::download(&url, &tmp.path().join("y.bin"), None, 1, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains(&url), "{err}");
}
