//! `medpath serve` end to end: the real binary on a free port, called over HTTP. Its answers
//! equal `medpath predict --json`'s; bad input, bad tokens and oversized bodies get a 4xx with
//! a one-line reason, and the server keeps serving.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

mod browser;

fn medpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args(args)
        .output()
        .expect("medpath runs")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A running `medpath serve` and its address; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `medpath serve` with `args` on a free port and waits for its address line.
fn start(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medpath"))
        .arg("serve")
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("medpath serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().expect("a first line").unwrap();
    let base = line
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    // Keep reading the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, base }
}

/// Status and body of a request; `body` goes as is with `content_type`.
fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> (u16, String) {
    let mut request = ureq::request(method, url);
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Some((content_type, bytes)) => request.set("Content-Type", content_type).send_bytes(bytes),
        None => request.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// A multipart form of `files` (name, bytes), each a part named `file`.
fn multipart(files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "medpath-test-boundary";
    let mut body = Vec::new();
    for (name, bytes) in files {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `predict --json`'s answers on `inputs`, with each input reduced to its file name.
fn predicted(model: &Path, inputs: &[&Path]) -> Value {
    let mut args = vec!["predict", "--model", model.to_str().unwrap(), "--json"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    let mut doc: Value = serde_json::from_str(&ok(&medpath(&args))).unwrap();
    for p in doc["predictions"].as_array_mut().unwrap() {
        let name = Path::new(p["input"].as_str().unwrap()).file_name().unwrap();
        p["input"] = Value::String(name.to_string_lossy().to_string());
    }
    doc
}

/// The demo's run folder, data and model, made once under `dir`.
fn demo(dir: &Path) -> PathBuf {
    let out = dir.join("demo");
    ok(&medpath(&["demo", "--out", out.to_str().unwrap()]));
    out
}

/// The first image and the first record of the demo's data.
fn demo_inputs(run: &Path) -> (PathBuf, PathBuf) {
    let data = run.join("generated");
    let ring = std::fs::read_dir(data.join("shapes/RING"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    (ring, data.join("ecg_records/s001"))
}

/// The demo's model made under `dir`, its first image and record, and the service on it behind
/// the token `s3cret` (with `extra` arguments).
fn demo_behind_token(dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf, PathBuf, Server) {
    let run = demo(dir);
    let (image, record) = demo_inputs(&run);
    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let mut args = vec![
        "--model",
        run.to_str().unwrap(),
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let server = start(&args);
    (run, image, record, server)
}

#[test]
fn the_service_answers_as_predict_does_and_refuses_bad_requests_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, image, record, server) = demo_behind_token(tmp.path(), &["--max-body-mib", "1"]);
    let (base, token) = (server.base.as_str(), Some("s3cret"));
    let predict_url = format!("{base}/v1/predict");
    assert_eq!(call("GET", &format!("{base}/healthz"), None, None).0, 200);
    // An image as the raw body and as a form part: predict's answers, named as uploaded.
    let bytes = std::fs::read(&image).unwrap();
    let name = image.file_name().unwrap().to_str().unwrap();
    let expected = predicted(&run, &[&image]);
    let (content_type, form) = multipart(&[(name.to_string(), bytes.clone())]);
    let (status, body) = call("POST", &predict_url, token, Some((&content_type, &form)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), expected);
    let (status, body) = call("POST", &predict_url, token, Some(("image/png", &bytes)));
    let raw: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        raw["predictions"][0]["class"],
        expected["predictions"][0]["class"]
    );
    // A whole record, its three files as parts: every beat as predict answers it.
    let files: Vec<(String, Vec<u8>)> = ["hea", "dat", "atr"]
        .iter()
        .map(|ext| {
            let path = record.with_extension(ext);
            (format!("s001.{ext}"), std::fs::read(path).unwrap())
        })
        .collect();
    let (content_type, form) = multipart(&files);
    let (status, body) = call("POST", &predict_url, token, Some((&content_type, &form)));
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    let expected = predicted(&run, &[&record]);
    assert_eq!(served["predictions"], expected["predictions"]);
    assert_eq!(
        served["records"][0]["predicted"],
        expected["records"][0]["predicted"]
    );
    refusals(base, &bytes, &files);
    answers_together_equal_predict(base, &run, &image);
    // After every refusal the server still answers, and it counted them.
    assert_eq!(call("GET", &format!("{base}/healthz"), None, None).0, 200);
    let (status, metrics) = call("GET", &format!("{base}/metrics"), token, None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("medpath_requests_total{route=\"/v1/predict\",status=\"200\"} 15"),
        "{metrics}"
    );
    assert!(metrics.contains("status=\"401\"} 2"), "{metrics}");
    let (_, model) = call("GET", &format!("{base}/v1/model"), token, None);
    let model: Value = serde_json::from_str(&model).unwrap();
    assert_eq!(model["tasks"].as_array().unwrap().len(), 2);
    let (_, page) = call("GET", &format!("{base}/"), None, None);
    assert!(
        page.contains("/v1/predict") && !page.contains("http://") && !page.contains("https://")
    );
}

/// The status line and the rest of the answer to a request announcing a body of `length` bytes,
/// read before any of the body is sent: a server refusing it by its size answers at once (a
/// client that went on writing would meet a closed connection).
fn oversized(base: &str, length: usize) -> (u16, String) {
    use std::io::Read;
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST /v1/predict HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer s3cret\r\n\
         Content-Type: image/png\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// Images posted at once (answered together by the waiting worker) get the answers `predict`
/// gives them.
fn answers_together_equal_predict(base: &str, run: &Path, image: &Path) {
    let folder = image.parent().unwrap();
    let mut images: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    images.truncate(12);
    let refs: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    let expected = predicted(run, &refs);
    let url = format!("{base}/v1/predict");
    let threads: Vec<_> = images
        .iter()
        .map(|path| {
            let (url, bytes) = (url.clone(), std::fs::read(path).unwrap());
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            std::thread::spawn(move || {
                let (content_type, form) = multipart(&[(name, bytes)]);
                call("POST", &url, Some("s3cret"), Some((&content_type, &form)))
            })
        })
        .collect();
    for (i, thread) in threads.into_iter().enumerate() {
        let (status, body) = thread.join().unwrap();
        assert_eq!(status, 200, "{body}");
        let served: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            served["predictions"][0], expected["predictions"][i],
            "image {i}"
        );
    }
}

/// A bad request: what it is, its token, content type and body, the status it must get and a
/// phrase of its reason.
type Refusal<'a> = (&'a str, Option<&'a str>, String, Vec<u8>, u16, &'a str);

/// Each bad request gets its 4xx and a one-line JSON reason.
fn refusals(base: &str, image: &[u8], record: &[(String, Vec<u8>)]) {
    let url = format!("{base}/v1/predict");
    let token = Some("s3cret");
    let mut cases: Vec<Refusal> = vec![
        (
            "no token",
            None,
            "image/png".into(),
            image.to_vec(),
            401,
            "bearer token",
        ),
        (
            "wrong token",
            Some("s3cre"),
            "image/png".into(),
            image.to_vec(),
            401,
            "bearer token",
        ),
        (
            "text",
            token,
            "text/plain".into(),
            b"hello".to_vec(),
            415,
            "not a JPEG",
        ),
        (
            "truncated image",
            token,
            "image/png".into(),
            image[..image.len() / 3].to_vec(),
            400,
            "upload",
        ),
    ];
    let (status, reason) = oversized(base, 2 << 30);
    assert_eq!(status, 413, "{reason}");
    assert!(reason.contains("the limit is 1048576 bytes"), "{reason}");
    let mut short = record.to_vec();
    short[1].1.truncate(100);
    let (content_type, form) = multipart(&short);
    cases.push(("short .dat", token, content_type, form, 400, "truncated"));
    let bomb = medpath_testkit::zip_of(&[
        ("s001.hea", vec![b' '; 10]),
        ("s001.dat", vec![0u8; 20 << 20]),
    ]);
    cases.push((
        "zip bomb",
        token,
        "application/zip".into(),
        bomb,
        413,
        "unpacks to more than",
    ));
    for (what, token, content_type, body, want, says) in cases {
        let (status, text) = call("POST", &url, token, Some((&content_type, &body)));
        assert_eq!(status, want, "{what}: {text}");
        if !says.is_empty() {
            let reason: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let reason = reason["error"].as_str().unwrap_or("");
            assert!(
                reason.contains(says) && !reason.contains('\n'),
                "{what}: {text}"
            );
        }
    }
}

#[test]
fn a_public_address_needs_a_token_or_insecure() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().to_str().unwrap();
    let public = |extra: &[&str]| {
        let mut args = vec!["serve", "--model", model, "--bind", "0.0.0.0:0"];
        args.extend(extra);
        String::from_utf8_lossy(&medpath(&args).stderr).to_string()
    };
    let refused = public(&[]);
    assert!(
        refused.contains("not a loopback address") && refused.contains("--token-file"),
        "{refused}"
    );
    // With --insecure it goes on, to the missing model.
    let insecure = public(&["--insecure"]);
    assert!(insecure.contains("no model bundle here"), "{insecure}");
}

/// The container's arguments in `deploy/kubernetes/serve.yaml`, and its readiness path.
fn deployment_args() -> (Vec<String>, String) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/serve.yaml");
    let docs =
        yaml_rust2::YamlLoader::load_from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let container = &docs[0]["spec"]["template"]["spec"]["containers"][0];
    let args = container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let ready = container["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(docs[1]["kind"].as_str(), Some("Service"));
    (args, ready.to_string())
}

/// A model trained with a weights file names it by its absolute path, so `predict` finds it from
/// any folder; weights that are not there are one line naming the file, the cause said once,
/// and the way out.
fn the_weights_are_found_from_any_folder_or_named_when_missing(
    run: &Path,
    shapes: &Path,
    tmp: &Path,
) {
    // The model names its weights by their absolute path, so predict finds them from any folder.
    let bundle = std::fs::read_to_string(run.join("bundle/model.json")).unwrap();
    let named: Value = serde_json::from_str(&bundle).unwrap();
    let named = named["encoder"]["weights_file"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(Path::new(&named).is_absolute(), "{named}");
    let image = std::fs::read_dir(shapes.join("RING"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let elsewhere = Command::new(env!("CARGO_BIN_EXE_medpath"))
        .current_dir(tmp)
        .args([
            "predict",
            "--model",
            run.to_str().unwrap(),
            image.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    ok(&elsewhere);
    let none = tmp.join("none.safetensors");
    let missing = medpath(&[
        "predict",
        "--model",
        run.to_str().unwrap(),
        "--weights",
        none.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        said.contains("none.safetensors") && said.contains("--weights"),
        "{said}"
    );
    assert_eq!(said.matches("No such file").count(), 1, "{said}");
}

#[test]
fn the_deployment_starts_the_binary_as_the_container_would() {
    let Some(weights) =
        medpath_testkit::shared_path("weights/vgg16_imagenet_keras_features.safetensors")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A small model trained with the real weights, then served from other mount points.
    let shapes = tmp.path().join("shapes");
    medpath_experiment::demo::write_shapes(&shapes, 20, 3).unwrap();
    let run = small_image_model(tmp.path(), &weights, ("shapes", &shapes), 32);
    the_weights_are_found_from_any_folder_or_named_when_missing(&run, &shapes, tmp.path());
    let mounted = tmp.path().join("weights");
    std::fs::create_dir_all(&mounted).unwrap();
    std::os::unix::fs::symlink(&weights, mounted.join(weights.file_name().unwrap())).unwrap();
    std::fs::write(tmp.path().join("token"), "t0ken\n").unwrap();
    let (args, ready) = deployment_args();
    assert_eq!(args[0], "serve");
    let local: Vec<String> = args[1..]
        .iter()
        .map(|a| {
            a.replace("/model", run.to_str().unwrap())
                .replace("/weights", mounted.to_str().unwrap())
                .replace("/secrets", tmp.path().to_str().unwrap())
                .replace("0.0.0.0:8080", "127.0.0.1:0")
        })
        .collect();
    let refs: Vec<&str> = local
        .iter()
        .filter(|a| *a != "--bind" && *a != "127.0.0.1:0")
        .map(String::as_str)
        .collect();
    let server = start(&refs);
    assert_eq!(
        call("GET", &format!("{}{ready}", server.base), None, None).0,
        200
    );
    assert_eq!(
        call("GET", &format!("{}/v1/model", server.base), None, None).0,
        401
    );
    let (status, model) = call(
        "GET",
        &format!("{}/v1/model", server.base),
        Some("t0ken"),
        None,
    );
    assert_eq!(status, 200, "{model}");
}

/// The line the page shows for `predict`'s answer `p` on an image.
fn shown_answer(p: &Value) -> String {
    if let Some(reason) = p["rejected"]["reason"].as_str() {
        return format!("Rejected: {reason}");
    }
    let text = |key: &str| p[key].as_str().unwrap_or_default().to_string();
    let mut line = format!(
        "{}: {} (probability {:.3})",
        text("task"),
        text("class"),
        p["probability"].as_f64().unwrap_or(f64::NAN)
    );
    if let Some(f) = p["follow_up"].as_object() {
        let probability = f["probability"].as_f64().unwrap_or(f64::NAN);
        line += &format!(
            "; {}: {} ({probability:.3})",
            f["task"].as_str().unwrap_or_default(),
            f["class"].as_str().unwrap_or_default()
        );
    }
    line
}

/// The text of the page's newest answer card once `count` cards have an answer or an error.
fn newest_card(page: &mut browser::Browser, count: usize) -> Value {
    page.wait_for(
        &format!(
            "(() => {{ const cards = document.querySelectorAll('#results .card'); \
             const done = [...cards].filter(c => c.querySelector('.answer, .error')); \
             return done.length >= {count} && cards.length === {count} && {{ \
             answer: (cards[0].querySelector('.answer, .error') || {{}}).textContent, \
             lines: [...cards[0].querySelectorAll('div')].map(d => d.textContent), \
             rejected: cards[0].classList.contains('rejected'), \
             strip: cards[0].querySelectorAll('.strip span').length }}; }})()"
        ),
        std::time::Duration::from_secs(60),
    )
}

#[test]
fn the_page_in_a_real_browser_shows_predicts_answers() {
    let Some(chromium) = browser::chromium() else {
        eprintln!("skipping the browser test: no Chromium here (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (run, image, record, server) = demo_behind_token(tmp.path(), &[]);
    let mut page = browser::Browser::launch(&chromium);
    page.open(&format!("{}/", server.base));
    // Without the token the page says why it cannot describe the model; with it, it can.
    let refused = page.wait_for("document.getElementById('model').textContent.startsWith('Model description:') && document.getElementById('model').textContent", std::time::Duration::from_secs(30));
    assert!(refused.as_str().unwrap().contains("token"), "{refused}");
    page.evaluate("(() => { const t = document.getElementById('token'); t.value = 's3cret'; t.dispatchEvent(new Event('change')); return true; })()");
    let model = page.wait_for("document.getElementById('model').textContent.startsWith('Model \\u201c') && document.getElementById('model').textContent", std::time::Duration::from_secs(30));
    assert!(model.as_str().unwrap().contains("ecg"), "{model}");
    // An image chosen in the file picker: predict's task, class and probability.
    page.choose_files("#pick", &[&image]);
    let card = newest_card(&mut page, 1);
    let expected = &predicted(&run, &[&image])["predictions"][0];
    assert_eq!(
        card["answer"],
        shown_answer(expected).as_str(),
        "{card} {expected}"
    );
    // A record's three files chosen together: its beat count, counts per class, one strip mark a beat.
    let parts: Vec<PathBuf> = ["hea", "dat", "atr"]
        .iter()
        .map(|e| record.with_extension(e))
        .collect();
    page.choose_files(
        "#pick",
        &parts.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    let card = newest_card(&mut page, 2);
    let expected = predicted(&run, &[&record]);
    let summary = &expected["records"][0];
    let beats = summary["beats"].as_u64().unwrap();
    assert_eq!(
        card["answer"],
        format!(
            "Record s001: {beats} beats (positions from {}), {} rejected",
            summary["beats_from"].as_str().unwrap(),
            summary["rejected"]
        )
        .as_str(),
        "{card}"
    );
    let counts: Vec<String> = summary["predicted"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    assert_eq!(card["lines"][1], counts.join(", ").as_str(), "{card}");
    assert_eq!(
        card["strip"].as_u64(),
        Some(expected["predictions"].as_array().unwrap().len() as u64)
    );
    // A truncated image: the card is marked rejected and shows the server's one-line reason.
    let broken = tmp.path().join("broken.png");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();
    page.choose_files("#pick", &[&broken]);
    let card = newest_card(&mut page, 3);
    assert_eq!(card["rejected"], true, "{card}");
    assert!(
        card["answer"].as_str().unwrap().contains("broken.png"),
        "{card}"
    );
}

/// A small NORMAL / PNEUMONIA model trained under `dir` with the real weights on the first `n`
/// shared training X-rays of each class (64 px, novelty off: it only has to answer).
fn small_xray_model(dir: &Path, weights: &Path, train: &Path, n: usize) -> PathBuf {
    for class in ["NORMAL", "PNEUMONIA"] {
        let into = dir.join("xray").join(class);
        std::fs::create_dir_all(&into).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(train.join(class))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files.iter().take(n) {
            std::fs::copy(file, into.join(file.file_name().unwrap())).unwrap();
        }
    }
    small_image_model(dir, weights, ("xray", &dir.join("xray")), 64)
}

/// A small model of one image task (`name`, its class folders under `root`, pictures of side
/// `size`) trained under `dir` with the real `weights`: a short search and two epochs, novelty
/// off (it only has to answer); its run folder.
fn small_image_model(
    dir: &Path,
    weights: &Path,
    (name, root): (&str, &Path),
    size: usize,
) -> PathBuf {
    let file = dir.join("small.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"small\"\n[encoder]\nweights = {weights:?}\ncache = {:?}\n[search]\npopulation = 4\n\
             tournaments = 2\nsteps = 5\n[train]\nepochs = 2\n[novelty]\nenabled = false\n\
             [tasks.{name}]\nkind = \"images\"\nroot = {root:?}\nsize = {size}\n",
            dir.join("cache")
        ),
    )
    .unwrap();
    let run = dir.join("run");
    ok(&medpath(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]));
    run
}

#[test]
fn an_xray_and_a_dicom_chosen_on_the_page_show_predicts_answers() {
    let weights = medpath_testkit::shared_path("weights/vgg16_imagenet_keras_features.safetensors");
    let train = medpath_testkit::shared_path("data/chest_xray/train");
    let test = medpath_testkit::shared_path("data/chest_xray_test_dev/NORMAL");
    let (Some(weights), Some(train), Some(test)) = (weights, train, test) else {
        return;
    };
    let Some(chromium) = browser::chromium() else {
        eprintln!("skipping the browser test: no Chromium here (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = small_xray_model(tmp.path(), &weights, &train, 25);
    let server = start(&["--model", run.to_str().unwrap()]);
    let mut page = browser::Browser::launch(&chromium);
    page.open(&format!("{}/", server.base));
    // An X-ray of the official test split, then a DICOM file of a chest X-ray, chosen in the
    // page's file picker: each card shows what `predict` answers for that file.
    let xray = std::fs::read_dir(&test)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let dicom =
        medpath_testkit::repo_root().join("crates/data/tests/fixtures/dicom/normal_mono2_8.dcm");
    for (shown, file) in [&xray, &dicom].into_iter().enumerate() {
        page.choose_files("#pick", &[file]);
        let card = newest_card(&mut page, shown + 1);
        let expected = &predicted(&run, &[file])["predictions"][0];
        assert_eq!(expected["task"], "xray", "{expected}");
        assert_eq!(
            card["answer"],
            shown_answer(expected).as_str(),
            "{card} {expected}"
        );
    }
    // With heat maps asked for, the card shows the map, decoded by the browser as a picture.
    page.evaluate("document.getElementById('explain').checked = true");
    page.choose_files("#pick", &[&xray]);
    newest_card(&mut page, 3);
    let heat = page.wait_for(
        "(() => { const img = document.querySelector('#results .card img.heat'); \
         return img && img.complete && img.naturalWidth > 0 && [img.naturalWidth, img.naturalHeight]; })()",
        std::time::Duration::from_secs(60),
    );
    assert!(heat[0].as_u64().unwrap() >= 64, "{heat}");
}
