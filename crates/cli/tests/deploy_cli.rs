//! The cluster templates in `deploy/`: their exact command lines, run as local processes (the
//! shards at once), give the same run as a single process; the Kubernetes manifests parse.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

/// A folder holding `medpath` (this build), to put first on PATH as a cluster node would have it.
fn bin_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_medpath"), dir.join("medpath")).unwrap();
    dir
}

/// A command with PATH led by `bin` and the given environment.
fn command(program: &str, bin: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(program);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A small experiment of one image task, with no cache of its own (MEDPATH_CACHE decides).
fn write_experiment(tmp: &Path) -> PathBuf {
    let shapes = tmp.join("shapes");
    medpath_experiment::demo::write_shapes(&shapes, 16, 5).unwrap();
    let file = tmp.join("experiment.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"cluster\"\n[search]\npopulation = 4\ntournaments = 2\nsteps = 5\n[train]\nepochs = 2\n\
             [tasks.shapes]\nkind = \"images\"\nroot = {shapes:?}\nsize = 32\naugment_views = 2\n"
        ),
    )
    .unwrap();
    file
}

/// The test metrics of a run folder: what must not depend on how the features were computed.
fn test_metrics(run: &Path) -> Value {
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert!(m["tasks"]["shapes"]["test"]["accuracy"].is_number(), "{m}");
    serde_json::json!({
        "test": m["tasks"]["shapes"]["test"],
        "path": m["tasks"]["shapes"]["path"],
        "novelty": m["novelty"],
        "joint": m["joint"],
    })
}

/// Entries in a feature cache.
fn entries(bin: &Path, cache: &Path) -> u64 {
    let text = ok(command("medpath", bin, &[])
        .args([
            "cache",
            "stats",
            "--json",
            "--cache",
            cache.to_str().unwrap(),
        ])
        .output()
        .unwrap());
    serde_json::from_str::<Value>(&text).unwrap()["stats"]["entries"]
        .as_u64()
        .unwrap()
}

/// The single-process reference: `medpath run` with a cache of its own.
fn single_process_run(tmp: &Path, bin: &Path, experiment: &Path) -> Value {
    let run = tmp.join("single");
    ok(command(
        "medpath",
        bin,
        &[(
            "MEDPATH_CACHE".into(),
            tmp.join("own-cache").display().to_string(),
        )],
    )
    .args([
        "run",
        experiment.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ])
    .output()
    .unwrap());
    test_metrics(&run)
}

/// Runs the training job `train` (after the shards filled `tmp/cluster-cache`; its run folder is
/// `tmp/cluster-run`) and checks that it computed no feature and that its test metrics equal a
/// single-process run's.
fn train_matches_a_single_process(mut train: Command, tmp: &Path, bin: &Path, experiment: &Path) {
    let cache = tmp.join("cluster-cache");
    let filled = entries(bin, &cache);
    ok(train.output().unwrap());
    assert_eq!(entries(bin, &cache), filled, "training computed no feature");
    assert_eq!(
        test_metrics(&tmp.join("cluster-run")),
        single_process_run(tmp, bin, experiment)
    );
}

#[test]
fn the_slurm_array_scripts_run_locally_give_the_single_process_run() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = bin_dir(tmp.path());
    let experiment = write_experiment(tmp.path());
    let cache = tmp.path().join("cluster-cache");
    let run = tmp.path().join("cluster-run");
    let env = |extra: &[(&str, String)]| -> Vec<(String, String)> {
        let mut env = vec![
            (
                "MEDPATH_EXPERIMENT".to_string(),
                experiment.display().to_string(),
            ),
            ("MEDPATH_CACHE".to_string(), cache.display().to_string()),
            ("MEDPATH_RUN".to_string(), run.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    };
    let array: Vec<Child> = (1..=3)
        .map(|i| {
            command(
                "bash",
                &bin,
                &env(&[
                    ("SLURM_ARRAY_TASK_ID", i.to_string()),
                    ("SLURM_ARRAY_TASK_COUNT", "3".into()),
                ]),
            )
            .arg(deploy("slurm/encode.sbatch"))
            .spawn()
            .unwrap()
        })
        .collect();
    for shard in array {
        assert!(ok(shard.wait_with_output().unwrap()).contains("pictures"));
    }
    let mut train = command("bash", &bin, &env(&[]));
    train.arg(deploy("slurm/train.sbatch"));
    train_matches_a_single_process(train, tmp.path(), &bin, &experiment);
}

/// The first document of a YAML file.
fn manifest(file: &str) -> Yaml {
    let text = std::fs::read_to_string(deploy(file)).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The container's shell command line and its environment, as the manifest gives them.
fn container(job: &Yaml) -> (String, Vec<(String, String)>) {
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<&str> = c["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|y| y.as_str().unwrap())
        .collect();
    assert_eq!(&command[..2], ["/bin/sh", "-c"]);
    let env = c["env"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (command[2].to_string(), env)
}

#[test]
fn the_kubernetes_indexed_job_run_locally_gives_the_single_process_run() {
    let encode = manifest("kubernetes/encode-job.yaml");
    assert_eq!(encode["kind"].as_str(), Some("Job"));
    assert_eq!(encode["spec"]["completionMode"].as_str(), Some("Indexed"));
    let completions = encode["spec"]["completions"].as_i64().unwrap();
    assert_eq!(encode["spec"]["parallelism"].as_i64(), Some(completions));
    let (encode_line, encode_env) = container(&encode);
    let shards: i64 = encode_env
        .iter()
        .find(|(k, _)| k == "SHARDS")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    assert_eq!(shards, completions, "one pod per shard");
    let train = manifest("kubernetes/train-job.yaml");
    assert_eq!(train["kind"].as_str(), Some("Job"));
    let (train_line, train_env) = container(&train);

    // The same command lines on this machine: three pods instead of the manifest's eight, and
    // local folders in place of the volumes.
    let tmp = tempfile::tempdir().unwrap();
    let bin = bin_dir(tmp.path());
    let experiment = write_experiment(tmp.path());
    let cache = tmp.path().join("cluster-cache");
    let run = tmp.path().join("cluster-run");
    let local = |env: &[(String, String)], extra: &[(&str, String)]| -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "SHARDS" => "3".to_string(),
                    "MEDPATH_EXPERIMENT" => experiment.display().to_string(),
                    "MEDPATH_CACHE" => cache.display().to_string(),
                    "MEDPATH_RUN" => run.display().to_string(),
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    };
    let pods: Vec<Child> = (0..3)
        .map(|index| {
            command(
                "/bin/sh",
                &bin,
                &local(&encode_env, &[("JOB_COMPLETION_INDEX", index.to_string())]),
            )
            .args(["-c", &encode_line])
            .spawn()
            .unwrap()
        })
        .collect();
    let mut shards_seen = Vec::new();
    for pod in pods {
        let text = ok(pod.wait_with_output().unwrap());
        shards_seen.push(text.split_whitespace().nth(1).unwrap().to_string());
    }
    shards_seen.sort();
    assert_eq!(shards_seen, ["1/3", "2/3", "3/3"]);
    let mut train = command("/bin/sh", &bin, &local(&train_env, &[]));
    train.args(["-c", &train_line]);
    train_matches_a_single_process(train, tmp.path(), &bin, &experiment);
}
