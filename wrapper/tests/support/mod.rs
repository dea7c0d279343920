//! Runs the real `jobwrap-runner` with the machine's real Python over a fixture project.
#![allow(dead_code, unreachable_pub)]

use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const RUNNER: &str = env!("CARGO_BIN_EXE_jobwrap-runner");

/// The machine's Python, resolved once (a pyenv shim would add its own start-up time).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 must be installed for the contract suite");
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
}

/// The shim installed as in an image (`jobwrap-runner --install-shim`), once per Python
/// and shim: installed aside, then renamed into place, so parallel tests never see half.
pub fn installed_shim(python: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (python, jobwrap_wrapper::shim::SOURCE).hash(&mut hasher);
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = target_tmp.join(format!("shim-{:016x}", hasher.finish()));
    if dir.exists() {
        return dir;
    }
    let aside = tempfile::tempdir_in(target_tmp).expect("temp dir");
    let installed = Command::new(RUNNER)
        .arg("--install-shim")
        .arg(aside.path().join("shim"))
        .env("JOBWRAP_PYTHON", python)
        .output()
        .expect("jobwrap-runner --install-shim runs");
    assert!(installed.status.success(), "{installed:?}");
    // Another test may have won the race: its copy is the same.
    let _ = fs_err::rename(aside.path().join("shim"), &dir);
    dir
}

/// A Python with numpy, in a virtual environment cached under the target folder.
pub fn python_with_numpy() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("contract-venv-numpy");
    let venv_python = venv.join("bin/python");
    if Command::new(&venv_python)
        .args(["-c", "import numpy"])
        .status()
        .is_ok_and(|s| s.success())
    {
        return venv_python;
    }
    let created = Command::new(self::python())
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv runs");
    assert!(created.success(), "creating {} failed", venv.display());
    let installed = Command::new(&venv_python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "numpy",
        ])
        .status()
        .expect("pip runs");
    assert!(installed.success(), "pip install numpy failed");
    venv_python
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).expect("create copy");
    for entry in fs_err::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// One job run: a copy of a fixture as the app, fresh input and output folders.
pub struct Job {
    root: tempfile::TempDir,
    env: Vec<(OsString, OsString)>,
    python: PathBuf,
    pid_one: bool,
    memory_limit: Option<u64>,
    inline_shim: bool,
}

impl Job {
    pub fn new(fixture_name: &str) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        copy_tree(&fixture(fixture_name), &root.path().join("app"));
        fs_err::create_dir_all(root.path().join("input")).expect("input dir");
        Job {
            root,
            env: Vec::new(),
            python: python().to_owned(),
            pid_one: false,
            memory_limit: None,
            inline_shim: false,
        }
    }

    pub fn app(&self) -> PathBuf {
        self.root.path().join("app")
    }

    pub fn input_dir(&self) -> PathBuf {
        self.root.path().join("input")
    }

    pub fn output_dir(&self) -> PathBuf {
        self.root.path().join("output")
    }

    pub fn scratch(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Writes `input/<relative>` (e.g. `data/data.json` or `params.json`).
    pub fn input_file(self, relative: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.input_dir().join(relative);
        fs_err::create_dir_all(path.parent().expect("has parent")).expect("input parent");
        fs_err::write(&path, contents).expect("write input");
        self
    }

    pub fn data(self, json: &Value) -> Self {
        self.input_file("data/data.json", json.to_string())
    }

    pub fn params(self, json: &Value) -> Self {
        self.input_file("params/params.json", json.to_string())
    }

    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn python(mut self, python: PathBuf) -> Self {
        self.python = python;
        self
    }

    /// Runs the runner as PID 1 of a new PID namespace, as in a container.
    pub fn in_own_pid_namespace(mut self) -> Self {
        self.pid_one = true;
        self
    }

    /// Runs the shim from the runner's own copy (`-c`), as when none is installed.
    pub fn inline_shim(mut self) -> Self {
        self.inline_shim = true;
        self
    }

    /// Runs the runner in a new cgroup (v1 memory controller) limited to `bytes`.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    pub fn run(&self) -> Finished {
        self.run_with(None)
    }

    /// Runs the job and sends the runner `signal` (a `kill -s` name) after `delay`.
    pub fn run_signalled(&self, signal: &str, delay: Duration) -> Finished {
        self.run_with(Some((signal, delay)))
    }

    /// The runner's own `TMPDIR`, under which it makes the job's private folder.
    pub fn runner_temp(&self) -> PathBuf {
        self.root.path().join("tmp")
    }

    fn run_with(&self, signal: Option<(&str, Duration)>) -> Finished {
        fs_err::create_dir_all(self.runner_temp()).expect("runner temp dir");
        let started = Instant::now();
        let cgroup = self.memory_limit.map(MemoryCgroup::new);
        let mut command = if self.pid_one {
            let mut unshare = Command::new("unshare");
            unshare.args(["--pid", "--fork", "--mount-proc", RUNNER]);
            unshare
        } else if let Some(cgroup) = &cgroup {
            // The shell moves itself into the cgroup, then becomes the runner.
            let mut shell = Command::new("sh");
            shell
                .args(["-c", "echo $$ > \"$1/cgroup.procs\" && exec \"$2\"", "sh"])
                .arg(&cgroup.0)
                .arg(RUNNER);
            shell
        } else {
            Command::new(RUNNER)
        };
        command.env_clear();
        // (A job testing a missing Python has no Python to install the shim with.)
        if !self.inline_shim && self.python.exists() {
            command.env("JOBWRAP_SHIM_DIR", installed_shim(&self.python));
        }
        let mut child = command
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("JOBWRAP_PYTHON", &self.python)
            .env("JOBWRAP_APP_DIR", self.app())
            .env("JOBWRAP_INPUT_DIR", self.input_dir())
            .env("JOBWRAP_OUTPUT_DIR", self.output_dir())
            .env("CNB_LAYERS_DIR", self.root.path().join("no-layers"))
            // The job's private folder lands here, and its path in every job process's
            // environment lets `assert_no_process_left` find them.
            .env("TMPDIR", self.runner_temp())
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("jobwrap-runner starts");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || read_all(stdout));
        let err = std::thread::spawn(move || read_all(stderr));
        let give_up = started + Duration::from_mins(2);
        let mut signal = signal;
        let status = loop {
            if let Some((name, delay)) = signal
                && started.elapsed() >= delay
            {
                // In its own PID namespace the runner is unshare's only child; the
                // signal then comes from outside the namespace, like `docker stop`'s.
                let target = if self.pid_one {
                    let children = format!("/proc/{0}/task/{0}/children", child.id());
                    fs_err::read_to_string(children)
                        .expect("unshare's children")
                        .trim()
                        .to_owned()
                } else {
                    child.id().to_string()
                };
                let sent = Command::new("kill")
                    .args(["-s", name, &target])
                    .status()
                    .expect("kill runs");
                assert!(sent.success(), "kill -s {name} {target}");
                signal = None;
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > give_up {
                let _ = child.kill();
                panic!("jobwrap-runner did not finish within 120 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        self.assert_no_process_left();
        let left_in_temp: Vec<_> = fs_err::read_dir(self.runner_temp())
            .expect("runner temp dir")
            .flatten()
            .map(|entry| entry.path())
            .collect();
        assert!(
            left_in_temp.is_empty(),
            "the private folder is removed: {left_in_temp:?}"
        );
        let output = self.output_dir();
        let read_json = |name: &str| {
            fs_err::read(output.join(name))
                .ok()
                .map(|bytes| serde_json::from_slice(&bytes).expect("output files hold JSON"))
        };
        Finished {
            code: status.code().expect("the runner exits, it is not killed"),
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
            output: read_json("output.json"),
            status: read_json("status.json"),
            elapsed: started.elapsed(),
        }
    }
}

impl Job {
    /// Once the runner has exited, no process of the job may remain: every one of them
    /// started with this job's temporary path in its environment.
    fn assert_no_process_left(&self) {
        let marker = self.runner_temp().into_os_string().into_encoded_bytes();
        let left = kill_processes_whose("environ", |environ| {
            environ.windows(marker.len()).any(|window| window == marker)
        });
        assert!(left.is_empty(), "job processes left running: {left:?}");
    }
}

/// A memory cgroup (v1) below the test's own, removed when dropped.
struct MemoryCgroup(PathBuf);

impl MemoryCgroup {
    fn new(limit: u64) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let own = fs_err::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
        let parent = own
            .lines()
            .find_map(|line| line.split_once(":memory:").map(|(_, path)| path.to_owned()))
            .expect("a cgroup v1 memory controller (as on the project's machine)");
        let path = Path::new("/sys/fs/cgroup/memory")
            .join(parent.trim_start_matches('/'))
            .join(format!(
                "jobwrap-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
        fs_err::create_dir(&path).expect("create a memory cgroup (needs root)");
        fs_err::write(path.join("memory.limit_in_bytes"), limit.to_string()).expect("limit");
        // Without swap accounting this file is absent; then swap is not available anyway.
        let _ = std::fs::write(path.join("memory.memsw.limit_in_bytes"), limit.to_string());
        MemoryCgroup(path)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read_all(mut stream: impl std::io::Read) -> String {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub output: Option<Value>,
    pub status: Option<Value>,
    pub elapsed: Duration,
}

impl Finished {
    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }

    /// The JSON after the final marker; asserts the marker matches the exit code.
    pub fn final_json(&self) -> Value {
        let line = self.last_line();
        let (marker, json) = line.split_once(' ').expect("marker and JSON");
        let expected = if self.code == 0 {
            "Job:ResultResponse:"
        } else {
            "Job:ErrorResponse:"
        };
        assert_eq!(marker, expected, "final line {line:?}");
        serde_json::from_str(json).expect("the final line holds JSON")
    }

    pub fn status(&self) -> &Value {
        self.status.as_ref().expect("status.json was written")
    }

    /// Exit code, status.json and output.json agree, and output.json equals the final line.
    pub fn assert_consistent(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code; stderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
        let status = self.status();
        assert_eq!(status["exit_code"], code);
        assert_eq!(
            status["status"],
            if code == 0 { "SUCCEEDED" } else { "FAILED" }
        );
        assert!(status["duration_ms"].is_u64());
        assert_eq!(
            self.output.as_ref(),
            Some(&self.final_json()),
            "output.json equals the final line"
        );
        if code == 0 {
            assert!(status["error"].is_null());
        }
        self
    }

    pub fn error_kind(&self) -> &str {
        self.status()["error"]["kind"]
            .as_str()
            .expect("an error kind")
    }

    pub fn error_message(&self) -> &str {
        self.status()["error"]["message"]
            .as_str()
            .expect("an error message")
    }

    pub fn limits(&self) -> Vec<&str> {
        self.status()["limits_hit"]
            .as_array()
            .expect("limits_hit")
            .iter()
            .filter_map(Value::as_str)
            .collect()
    }
}

/// True while a process with this pid exists (and is not a zombie).
pub fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Reads a pid a job process wrote, waiting briefly for it to appear.
pub fn read_pid(path: &Path) -> i32 {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(Ok(pid)) = fs_err::read_to_string(path).map(|text| text.trim().parse()) {
            return pid;
        }
        assert!(
            Instant::now() < give_up,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills every running process whose `/proc/<pid>/<file>` matches; returns their pids
/// and command lines, for the assertion that none should have been there.
pub fn kill_processes_whose(file: &str, matches: impl Fn(&[u8]) -> bool) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(contents) = std::fs::read(entry.path().join(file)) else {
            continue;
        };
        if is_running(pid) && matches(&contents) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
    found
}
