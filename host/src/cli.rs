//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "jobwrap",
    version,
    about = "Build a Python job project into a container image and run it safely"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Stage, build and run a project, print its result, and remove everything again.
    Run(RunArgs),
    /// Stage and build a project into a job image; prints the image name.
    Build(BuildArgs),
    /// Run an existing job image securely with the given inputs.
    Exec(ExecArgs),
    /// Create a new job project that runs as it is.
    Init {
        /// The folder to create.
        dir: PathBuf,
    },
    /// Builders: `jobwrap builder create [--offline]`.
    Builder {
        #[command(subcommand)]
        command: BuilderCommand,
    },
    /// Remove what interrupted runs left behind (containers, images, staging folders) and
    /// the build caches of projects that no longer exist; a run under way is left alone.
    Clean {
        /// Remove every project's build cache (the next builds start cold).
        #[arg(long)]
        caches: bool,
    },
    /// The in-container runner itself (used by `run --local`).
    #[command(hide = true, name = "__runner")]
    Runner,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BuilderCommand {
    /// Create `jobwrap/builder` (beside Paketo) or, with `--offline`, `jobwrap/builder-offline`.
    Create {
        /// Create the offline builder on the local stack instead.
        #[arg(long)]
        offline: bool,
        /// The jobwrap source checkout that holds `builder/` (default: the current folder).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The project: a folder, or a `.zip` like `PlanQK`'s `user_code.zip`.
    pub(crate) project: PathBuf,
    /// The builder (default: `jobwrap/builder` if it exists, else `jobwrap/builder-offline`).
    #[arg(long)]
    pub(crate) builder: Option<String>,
    /// The network of the build: `none` (default) or `host` (exposes every service on the
    /// host's loopback to the project's build code, e.g. its setup.py).
    #[arg(long, value_enum, default_value_t = BuildNetwork::None)]
    pub(crate) build_network: BuildNetwork,
    /// The image name (default: `jobwrap-job/<hash of the project and the builder>`, or
    /// `jobwrap-run/<hash>:<run id>` for a run's own image).
    #[arg(long)]
    pub(crate) tag: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BuildNetwork {
    None,
    Host,
}

impl BuildNetwork {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BuildNetwork::None => "none",
            BuildNetwork::Host => "host",
        }
    }
}

#[derive(Debug, Args, Clone)]
pub(crate) struct JobArgs {
    /// The job's `data` input (a JSON file).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// The job's `params` input (a JSON file).
    #[arg(long)]
    pub(crate) params: Option<PathBuf>,
    /// Timeout in seconds (default: the project's, else 3600).
    #[arg(long)]
    pub(crate) timeout: Option<f64>,
    /// Memory limit, e.g. `512m`, `2g`, `1.5GiB` (default: the project's, else 1 GiB).
    #[arg(long, value_parser = parse_memory)]
    pub(crate) memory: Option<u64>,
    /// CPU limit, e.g. `0.5` or `2` (default: the project's, else 1).
    #[arg(long)]
    pub(crate) cpus: Option<f64>,
    /// Print status and result as one JSON document instead of the result alone.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where the job runs.
#[derive(Debug, Args, Clone)]
pub(crate) struct BackendArgs {
    /// `docker` (this machine's engine) or `kubernetes` (a Job in the cluster of
    /// `$KUBECONFIG`).
    #[arg(long, value_enum, default_value_t = Backend::Docker)]
    pub(crate) backend: Backend,
    /// kubernetes: the registry the cluster pulls from (`host[:port]`); `run` pushes the
    /// built image there.
    #[arg(long)]
    pub(crate) registry: Option<String>,
    /// kubernetes: the namespace of the Job (default: the kubeconfig's).
    #[arg(long)]
    pub(crate) namespace: Option<String>,
    /// kubernetes: also give the job's pod a default-deny `NetworkPolicy` (enforced where
    /// the cluster's network plugin enforces policies).
    #[arg(long)]
    pub(crate) network_policy: bool,
}

impl BackendArgs {
    /// The first option given that only the kubernetes backend uses, if the backend is
    /// docker (silently ignoring `--registry` would surprise).
    pub(crate) fn misplaced_option(&self) -> Option<&'static str> {
        if self.backend == Backend::Kubernetes {
            return None;
        }
        [
            ("--registry", self.registry.is_some()),
            ("--namespace", self.namespace.is_some()),
            ("--network-policy", self.network_policy),
        ]
        .into_iter()
        .find_map(|(option, given)| given.then_some(option))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    Docker,
    Kubernetes,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) build: BuildArgs,
    #[command(flatten)]
    pub(crate) job: JobArgs,
    #[command(flatten)]
    pub(crate) backend: BackendArgs,
    /// Keep the built image (an unchanged project then skips the build next time).
    #[arg(long)]
    pub(crate) keep_image: bool,
    /// No image and no Docker: run the project with this machine's Python through the same
    /// runner (the fast loop while editing; the container's walls do not apply).
    #[arg(long, conflicts_with_all = ["keep_image", "builder", "tag", "build_network", "backend"])]
    pub(crate) local: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The job image (for kubernetes: as the cluster pulls it).
    pub(crate) image: String,
    #[command(flatten)]
    pub(crate) job: JobArgs,
    #[command(flatten)]
    pub(crate) backend: BackendArgs,
}

fn parse_memory(text: &str) -> Result<u64, String> {
    job_template_buildpack::config::parse_size(text).ok_or_else(|| {
        format!("{text:?} is not a size: use a number with a unit, e.g. 512m, 2g or 1.5GiB")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_options_need_the_kubernetes_backend() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(["jobwrap", "exec", "image"].iter().chain(args))
                .expect("parses");
            let Command::Exec(exec) = cli.command else {
                panic!("exec")
            };
            exec.backend.misplaced_option()
        };
        assert_eq!(parse(&["--registry", "r"]), Some("--registry"));
        assert_eq!(parse(&["--network-policy"]), Some("--network-policy"));
        assert_eq!(
            parse(&["--backend", "kubernetes", "--namespace", "n"]),
            None
        );
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn memory_sizes_parse_strictly() {
        assert_eq!(parse_memory("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory("2g"), Ok(2 * 1024 * 1024 * 1024));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("0").is_err());
        assert!(parse_memory("-1g").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        let cli = Cli::try_parse_from([
            "jobwrap",
            "run",
            "proj",
            "--data",
            "d.json",
            "--memory",
            "2g",
            "--cpus",
            "0.5",
            "--build-network",
            "host",
            "--keep-image",
            "--json",
        ])
        .expect("parses");
        let Command::Run(run) = cli.command else {
            panic!("run")
        };
        assert_eq!(run.job.memory, Some(2 * 1024 * 1024 * 1024));
        assert_eq!(run.build.build_network, BuildNetwork::Host);
        assert!(run.keep_image && run.job.json);
        assert!(Cli::try_parse_from(["jobwrap", "run", "proj", "--memory", "huge"]).is_err());
        assert!(Cli::try_parse_from(["jobwrap", "run", "proj", "--frobnicate"]).is_err());
    }
}
