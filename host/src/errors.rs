//! Every failure of the CLI, with what went wrong, what to do, and its exit code.

use crate::archive::ArchiveError;
use crate::build::BuildError;
use crate::collect::CollectError;
use crate::container::RunError;
use crate::kubernetes::KubeError;
use crate::publish::PublishError;
use crate::stage::StageError;
use job_template_buildpack::MARKERS;
use job_template_buildpack::config::ConfigError;
use std::path::PathBuf;

#[derive(Debug)]
pub(crate) enum HostError {
    DockerUnreachable(bollard::errors::Error),
    NoBuilder,
    BuilderMissing(String),
    Stage(StageError),
    Settings(ConfigError),
    Build(BuildError),
    Run(RunError),
    Init {
        path: PathBuf,
        error: std::io::Error,
    },
    InitExists(PathBuf),
    Tool {
        tool: &'static str,
        error: std::io::Error,
    },
    ToolFailed {
        command: String,
        status: String,
    },
    Signals(std::io::Error),
    RegistryMissing,
    KubernetesOnly(&'static str),
    Publish(PublishError),
    Kubernetes(KubeError),
}

impl HostError {
    /// The exit code: the contract's codes where they fit (2 bad input, 3 invalid project),
    /// 125 for jobwrap's own failures, 128 + signal when interrupted.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            HostError::Run(RunError::Input { .. })
            | HostError::Kubernetes(KubeError::Input { .. } | KubeError::InputsTooLarge(_)) => 2,
            HostError::Stage(_)
            | HostError::Settings(_)
            | HostError::Build(
                BuildError::Pack { .. } | BuildError::Vendor { .. } | BuildError::Requirements(_),
            ) => 3,
            HostError::Build(BuildError::Interrupted(signal))
            | HostError::Run(RunError::Interrupted(signal))
            | HostError::Kubernetes(KubeError::Interrupted(signal)) => {
                u8::try_from(128 + signal).unwrap_or(130)
            }
            _ => 125,
        }
    }
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::DockerUnreachable(error) => write!(
                f,
                "the Docker engine is not reachable ({error}). Start it with `scripts/setup` \
                 (or `dockerd --bridge=none --iptables=false --ip-masq=false --ip-forward=false &`) \
                 and check that /var/run/docker.sock is there."
            ),
            HostError::NoBuilder => write!(
                f,
                "no jobwrap builder exists. Create one: `jobwrap builder create` (beside Paketo, \
                 needs registry access) or `jobwrap builder create --offline` (this machine only)."
            ),
            HostError::BuilderMissing(builder) => write!(
                f,
                "the builder {builder} does not exist. Create it with `jobwrap builder create{}`.",
                if builder.ends_with("-offline") {
                    " --offline"
                } else {
                    ""
                }
            ),
            HostError::Stage(error) => stage_message(f, error),
            HostError::Settings(error) => {
                write!(f, "the project's settings are invalid: {error}")
            }
            HostError::Build(error) => match error {
                BuildError::Hash { path, error } => {
                    write!(f, "cannot read the staged file {}: {error}", path.display())
                }
                BuildError::Tool { tool, error } => write!(
                    f,
                    "cannot run {tool}: {error}. Install it (`scripts/setup` installs pack; python3 \
                     with pip is needed to fetch dependencies)."
                ),
                BuildError::Vendor { status } => write!(
                    f,
                    "downloading the requirements' wheels failed ({status}); pip's output above names \
                     the requirement. jobwrap installs wheels only (no source builds run on the host): \
                     pin versions that publish wheels, or build with `--build-network host`."
                ),
                BuildError::Requirements(refused) => write!(
                    f,
                    "requirements.txt line {}: `{}` is refused: {}. jobwrap fetches requirements on \
                     this machine from the configured package index only; list them by name \
                     (`name[extras] <versions> ; <markers>`, `--hash` allowed), or put the wheels you \
                     need into vendor/ (the build installs from there, offline).",
                    refused.line, refused.text, refused.reason
                ),
                BuildError::Pack { status } => write!(
                    f,
                    "the build failed ({status}); the build log above says why (look for [Error])."
                ),
                BuildError::Docker(error) => {
                    write!(f, "the Docker engine failed during the build: {error}")
                }
                BuildError::Lock { path, error } => write!(
                    f,
                    "cannot take the build lock {}: {error}; remove the file if it is not a \
                     regular file jobwrap made, and run again",
                    path.display()
                ),
                BuildError::Interrupted(_) => {
                    write!(f, "interrupted during the build; everything was removed")
                }
            },
            HostError::Run(error) => run_message(f, error),
            HostError::Init { path, error } => {
                write!(f, "cannot create {}: {error}", path.display())
            }
            HostError::InitExists(path) => write!(
                f,
                "{} already holds a job project; choose an empty or new folder",
                path.display()
            ),
            HostError::Tool { tool, error } => {
                write!(f, "cannot run {tool}: {error}; run scripts/setup")
            }
            HostError::ToolFailed { command, status } => {
                write!(f, "`{command}` failed ({status}); its output is above")
            }
            HostError::Signals(error) => write!(f, "cannot listen for Ctrl-C: {error}"),
            HostError::RegistryMissing => write!(
                f,
                "`--backend kubernetes` needs `--registry HOST[:PORT]`, the registry the cluster \
                 pulls from; jobwrap pushes the built image there (the CI cluster's is 127.0.0.1:5000)"
            ),
            HostError::KubernetesOnly(option) => write!(
                f,
                "{option} applies to `--backend kubernetes` only; add that, or leave {option} out"
            ),
            HostError::Publish(error) => publish_message(f, error),
            HostError::Kubernetes(error) => kube_message(f, error),
        }
    }
}

fn publish_message(f: &mut std::fmt::Formatter<'_>, error: &PublishError) -> std::fmt::Result {
    match error {
        PublishError::Registry(registry) => write!(
            f,
            "--registry {registry:?} is not a registry address: give host[:port][/path] without a \
             scheme, e.g. 127.0.0.1:5000"
        ),
        PublishError::Docker(error) => write!(f, "the Docker engine cannot tag the image: {error}"),
        PublishError::Push { reference, message } => write!(
            f,
            "pushing {reference} failed: {message}. Check that the registry runs and that this \
             machine's Docker engine reaches it (`scripts/cluster up` starts the CI cluster's on \
             127.0.0.1:5000)."
        ),
    }
}

fn kube_message(f: &mut std::fmt::Formatter<'_>, error: &KubeError) -> std::fmt::Result {
    match error {
        KubeError::Config(error) => write!(
            f,
            "no usable cluster configuration ({error}). Point $KUBECONFIG at a kubeconfig; for the \
             CI cluster: `scripts/cluster up`, then KUBECONFIG=/var/lib/jobwrap-cluster/admin.kubeconfig"
        ),
        KubeError::Random(error) => write!(
            f,
            "cannot read /dev/urandom for the run's result key: {error}"
        ),
        KubeError::Input { path, error } => write!(
            f,
            "the input {} cannot be used: {error}; pass a JSON file",
            path.display()
        ),
        KubeError::InputsTooLarge(bytes) => write!(
            f,
            "the inputs are {bytes} bytes, but on Kubernetes they travel in a Secret, which holds \
             at most 1 MiB. Let run() fetch large data itself, or use the docker backend."
        ),
        KubeError::Api { action, error } => write!(
            f,
            "the cluster did not let jobwrap {action}: {error}. Check that the cluster is up \
             (`kubectl get nodes`) and that your user may manage Jobs, pods and Secrets in the namespace."
        ),
        KubeError::PodStuck { reason, message } => write!(
            f,
            "the job's pod cannot start ({reason}: {message}). If the image cannot be pulled, check \
             that the cluster's nodes reach the registry and the image exists there."
        ),
        KubeError::SettingsDropped(settings) => write!(
            f,
            "the cluster dropped these settings of the job's pod: {}; jobwrap will not run the job \
             without them. Use Kubernetes 1.25 or newer.",
            settings.join(", ")
        ),
        KubeError::NoPod(reason) => write!(
            f,
            "the cluster created no pod for the job within 30 s: {reason}"
        ),
        KubeError::Interrupted(_) => write!(
            f,
            "interrupted while the job ran; its Job, pod and Secret were deleted"
        ),
        KubeError::Leftovers(left) => write!(
            f,
            "the run finished, but these objects were still in the cluster 60 s after jobwrap \
             deleted them: {}. The Job's TTL removes them; or delete them with kubectl.",
            left.join(", ")
        ),
    }
}

fn stage_message(f: &mut std::fmt::Formatter<'_>, error: &StageError) -> std::fmt::Result {
    match error {
        StageError::Missing { path, error } => {
            write!(f, "the project {} cannot be read: {error}", path.display())
        }
        StageError::Io { path, error } => write!(f, "staging {} failed: {error}", path.display()),
        StageError::Walk(error) => write!(f, "staging the project failed: {error}"),
        StageError::LinkOutside { path, target } => write!(
            f,
            "{} is a link to {}, outside the project; jobwrap does not copy files from outside \
             the project. Replace the link with the file itself.",
            path.display(),
            target.display()
        ),
        StageError::TooManyFiles { limit } => write!(
            f,
            "the project has more than {limit} files; list what the job does not need in .jobwrapignore"
        ),
        StageError::TooLarge { limit } => write!(
            f,
            "the project is larger than {} MiB; list large data in .jobwrapignore and pass it as input",
            limit / 1024 / 1024
        ),
        StageError::Archive(error) => archive_message(f, error),
        StageError::NotAProject { path } => write!(
            f,
            "{} is not a job project: looked for any of {}. Create one with `jobwrap init`.",
            path.display(),
            MARKERS.join(", ")
        ),
    }
}

fn archive_message(f: &mut std::fmt::Formatter<'_>, error: &ArchiveError) -> std::fmt::Result {
    match error {
        ArchiveError::Open { path, error } => write!(f, "cannot open {}: {error}", path.display()),
        ArchiveError::Corrupt { path, error } => {
            write!(f, "{} is not a valid zip file: {error}", path.display())
        }
        ArchiveError::UnsafePath { name } => write!(
            f,
            "the zip entry {name:?} points outside the project (absolute or with `..`); nothing was extracted"
        ),
        ArchiveError::Link { name } => write!(
            f,
            "the zip entry {name:?} is a symbolic link; zip the files themselves"
        ),
        ArchiveError::TooManyFiles { limit } => write!(f, "the zip has more than {limit} entries"),
        ArchiveError::TooLarge { limit } => write!(
            f,
            "the zip unpacks to more than {} MiB",
            limit / 1024 / 1024
        ),
        ArchiveError::Bomb { name, ratio } => write!(
            f,
            "the zip entry {name:?} expands {ratio}-fold, like a decompression bomb; nothing was extracted"
        ),
        ArchiveError::Write { path, error } => {
            write!(f, "extracting {} failed: {error}", path.display())
        }
    }
}

fn run_message(f: &mut std::fmt::Formatter<'_>, error: &RunError) -> std::fmt::Result {
    match error {
        RunError::Input { path, error } => write!(
            f,
            "the input {} cannot be used: {error}; pass a JSON file",
            path.display()
        ),
        RunError::Workspace(error) => write!(f, "cannot prepare the run's folders: {error}"),
        RunError::Image { image, error } => write!(
            f,
            "the image {image} cannot be used: {error}; build it with `jobwrap build`"
        ),
        RunError::RootImage(image) => write!(
            f,
            "the image {image} runs as root; jobwrap runs only images with a non-root user (buildpack-built images have one)"
        ),
        RunError::Docker(error) => write!(f, "the Docker engine failed: {error}"),
        RunError::SettingsDropped(settings) => write!(
            f,
            "the Docker engine ignored these security settings: {}; jobwrap will not run the job \
             without them. Use a Docker engine that supports them (API 1.41 or newer).",
            settings.join(", ")
        ),
        RunError::Collect(error) => match error {
            CollectError::Open { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            CollectError::NotRegular(path) => write!(
                f,
                "{} is not a regular file; the job tampered with its output",
                path.display()
            ),
            CollectError::TooLarge { path, limit } => {
                write!(f, "{} is larger than {limit} bytes", path.display())
            }
            CollectError::NotJson { path, error } => {
                write!(f, "{} is not JSON: {error}", path.display())
            }
        },
        RunError::Interrupted(_) => {
            write!(f, "interrupted while the job ran; everything was removed")
        }
    }
}
