//! `jobwrap`: turns a Python job project into a container image with Cloud Native
//! Buildpacks and runs it safely.
//!
//! `run` = [`stage`] → [`build`] (`pack build`) → [`container`] (run with the hardened
//! [`settings`]) → [`collect`] → [`teardown`], on every path, Ctrl-C included.
//! With `--backend kubernetes`: … → [`build`] → [`publish`] (push to the cluster's
//! registry) → [`kubernetes`] (a Job; its objects deleted on every path).

mod archive;
mod build;
mod builder;
mod cache;
mod clean;
mod cli;
mod collect;
mod container;
mod errors;
mod init;
mod interrupt;
mod kubernetes;
mod local;
mod publish;
mod requirements;
mod settings;
mod stage;
mod teardown;
mod tool;

use crate::cache::BuildCache;
use crate::cli::{Backend, BackendArgs, BuildArgs, BuilderCommand, Cli, Command, JobArgs};
use crate::container::{Finished, Inputs};
use crate::errors::HostError;
use crate::interrupt::Interrupt;
use crate::settings::Limits;
use crate::teardown::{Cleanup, IMAGE_REPOSITORY, RUN_IMAGE_REPOSITORY};
use bollard::query_parameters::{ListImagesOptionsBuilder, TagImageOptionsBuilder};
use bollard::{ClientVersion, Docker};
use clap::Parser;
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// The Docker Engine API version jobwrap speaks (Debian's docker.io 20.10 has 1.41).
const DOCKER_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Runner = cli.command {
        // The very same runner as in the images, for `run --local`.
        return jobwrap_wrapper::main();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("jobwrap: error: cannot start: {error}");
            return ExitCode::from(125);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("jobwrap: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn dispatch(command: Command) -> Result<u8, HostError> {
    let (backend, job) = match &command {
        Command::Run(args) => (Some(&args.backend), Some(&args.job)),
        Command::Exec(args) => (Some(&args.backend), Some(&args.job)),
        _ => (None, None),
    };
    if let Some(option) = backend.and_then(BackendArgs::misplaced_option) {
        return Err(HostError::KubernetesOnly(option));
    }
    // Before anything is staged or built: a mistyped input costs no build, and a device
    // such as /dev/zero is never copied.
    if let Some(job) = job {
        job_inputs(job).check().map_err(HostError::Run)?;
    }
    match command {
        Command::Init { dir } => init::init(&dir).map(|()| 0),
        Command::Builder {
            command: BuilderCommand::Create { offline, repo },
        } => builder::create(&repo, offline).await.map(|()| 0),
        Command::Clean { caches } => {
            let docker = connect().await?;
            let sweep = if caches {
                cache::Sweep::All
            } else {
                cache::Sweep::Orphaned
            };
            let removed = clean::clean(&docker, sweep)
                .await
                .map_err(HostError::DockerUnreachable)?;
            eprintln!("jobwrap: removed {removed}");
            Ok(0)
        }
        Command::Build(args) => {
            let docker = connect().await?;
            let interrupt = Interrupt::listen().map_err(HostError::Signals)?;
            let project = build_project(&docker, &args, false, &interrupt).await?;
            println!("{}", project.image);
            Ok(0)
        }
        Command::Exec(args) if args.backend.backend == Backend::Kubernetes => {
            let interrupt = Interrupt::listen().map_err(HostError::Signals)?;
            let cluster = prepare_cluster(&args.job, &args.backend).await?;
            let limits = limits(&args.job, None);
            let finished =
                run_on_cluster(cluster, &args.image, &limits, &args.backend, &interrupt).await?;
            Ok(report(&finished, args.job.json))
        }
        Command::Exec(args) => {
            let docker = connect().await?;
            let interrupt = Interrupt::listen().map_err(HostError::Signals)?;
            let limits = limits(&args.job, None);
            let cleanup = Cleanup::default();
            let finished = run_image(
                &docker,
                &args.image,
                &args.job,
                &limits,
                &cleanup,
                &interrupt,
            )
            .await;
            cleanup.run(&docker).await;
            Ok(report(&finished?, args.job.json))
        }
        Command::Runner => Ok(125),
        Command::Run(args) if args.local => {
            let interrupt = Interrupt::listen().map_err(HostError::Signals)?;
            let finished = local::run(&args.build.project, &args.job, &interrupt).await?;
            Ok(report(&finished, args.job.json))
        }
        Command::Run(args) => run_project(&args).await,
    }
}

/// `jobwrap run`: build → run on Docker, or push and run on the cluster → tear down.
async fn run_project(args: &cli::RunArgs) -> Result<u8, HostError> {
    let cluster = match args.backend.backend {
        Backend::Docker => None,
        Backend::Kubernetes => {
            let registry = args
                .backend
                .registry
                .as_deref()
                .ok_or(HostError::RegistryMissing)?;
            Some((registry, prepare_cluster(&args.job, &args.backend).await?))
        }
    };
    let docker = connect().await?;
    let interrupt = Interrupt::listen().map_err(HostError::Signals)?;
    let cleanup = Cleanup::default();
    let outcome = async {
        let ProjectImage {
            image,
            settings,
            own_tag,
        } = build_project(&docker, &args.build, !args.keep_image, &interrupt).await?;
        // An image made before this run (`jobwrap build`) is not the run's to remove.
        if own_tag {
            cleanup.image(&image);
        }
        if args.keep_image {
            cleanup.keep_image(&image);
        }
        let limits = limits(&args.job, Some(&settings));
        let Some((registry, cluster)) = cluster else {
            return run_image(&docker, &image, &args.job, &limits, &cleanup, &interrupt).await;
        };
        // The registry keeps the image; the local tag of it goes with the run.
        let reference = publish::publish(&docker, &image, registry, &cleanup)
            .await
            .map_err(HostError::Publish)?;
        run_on_cluster(cluster, &reference, &limits, &args.backend, &interrupt).await
    }
    .await;
    cleanup.run(&docker).await;
    Ok(report(&outcome?, args.job.json))
}

async fn connect() -> Result<Docker, HostError> {
    let docker = Docker::connect_with_unix("/var/run/docker.sock", 600, &DOCKER_API)
        .map_err(HostError::DockerUnreachable)?;
    docker.ping().await.map_err(HostError::DockerUnreachable)?;
    Ok(docker)
}

/// A project's job image.
struct ProjectImage {
    image: String,
    settings: job_template_buildpack::config::Settings,
    /// The tag is this process's own (it built the image, or tagged another run's build
    /// of the same content): it goes with the run unless kept.
    own_tag: bool,
}

/// Stage → choose the builder → fetch wheels → `pack build` (skipped when the same
/// content was built on the same builder before). A `throwaway` image (a run's own) goes
/// into its own repository under a tag naming the run, so concurrent runs of one project
/// never remove each other's image and `jobwrap clean` never mistakes the user's images
/// for leftovers. The staging folder is gone afterwards.
async fn build_project(
    docker: &Docker,
    args: &BuildArgs,
    throwaway: bool,
    interrupt: &Interrupt,
) -> Result<ProjectImage, HostError> {
    let staged = stage::stage(&args.project).map_err(HostError::Stage)?;
    let settings =
        job_template_buildpack::config::read(staged.path(), None).map_err(HostError::Settings)?;
    let (builder, builder_id) = choose_builder(docker, args.builder.as_deref()).await?;
    let up_to_date = |image: String, own_tag| {
        eprintln!(
            "jobwrap: {image} is up to date (same project, same builder); skipping the build"
        );
        ProjectImage {
            image,
            settings: settings.clone(),
            own_tag,
        }
    };
    let hash = build::content_hash(staged.path(), &builder_id).map_err(HostError::Build)?;
    // `jobwrap build`'s image of the same content serves a run too (and stays).
    let kept = format!("{IMAGE_REPOSITORY}/{hash}");
    if args.tag.is_none() && image_id(docker, &kept).await.is_some() {
        return Ok(up_to_date(kept, false));
    }
    let cache = BuildCache::of(&args.project, &builder);
    let _lock = cache.lock(interrupt).await.map_err(HostError::Build)?;
    // Checked again under the lock: a concurrent jobwrap may just have built the same.
    let tag = if let Some(tag) = &args.tag {
        tag.clone()
    } else if throwaway {
        let own = format!("{RUN_IMAGE_REPOSITORY}/{hash}:{}", teardown::unique_id());
        if let Some(id) = run_image_of(docker, &hash).await
            && tag_image(docker, &id, &own).await.is_ok()
        {
            return Ok(up_to_date(own, true));
        }
        own
    } else if image_id(docker, &kept).await.is_some() {
        return Ok(up_to_date(kept, false));
    } else {
        kept
    };
    eprintln!(
        "jobwrap: building {tag} with {builder} (build network: {})",
        args.build_network.as_str()
    );
    // Wheels are fetched only when a build happens; the tag is of the project as given.
    build::vendor_dependencies(staged.path())
        .await
        .map_err(HostError::Build)?;
    cache
        .prepare(docker)
        .await
        .map_err(|error| HostError::Build(build::BuildError::Docker(error)))?;
    let build = build::PackBuild {
        staged: staged.path(),
        tag: &tag,
        builder: &builder,
        cache: &cache.name,
        network: args.build_network,
    };
    build::pack_build(docker, &build, interrupt)
        .await
        .map_err(HostError::Build)?;
    Ok(ProjectImage {
        image: tag,
        settings,
        own_tag: true,
    })
}

/// The id of an image another run made of the same content, if one is still there.
async fn run_image_of(docker: &Docker, hash: &str) -> Option<String> {
    let repository = format!("{RUN_IMAGE_REPOSITORY}/{hash}");
    let options = ListImagesOptionsBuilder::new()
        .filters(&HashMap::from([("reference", vec![repository.as_str()])]))
        .build();
    let images = docker.list_images(Some(options)).await.ok()?;
    images.into_iter().next().map(|image| image.id)
}

/// Gives the image `id` this run's own `repository:tag`, so it stays while the run needs it.
async fn tag_image(docker: &Docker, id: &str, name: &str) -> Result<(), bollard::errors::Error> {
    let (repository, tag) = publish::split_tag(name);
    let options = TagImageOptionsBuilder::new()
        .repo(repository)
        .tag(tag)
        .build();
    docker.tag_image(id, Some(options)).await
}

/// The builder asked for, else `jobwrap/builder`, else `jobwrap/builder-offline`; with
/// its image id (one inspection each).
async fn choose_builder(
    docker: &Docker,
    asked: Option<&str>,
) -> Result<(String, String), HostError> {
    if let Some(builder) = asked {
        let id = image_id(docker, builder)
            .await
            .ok_or_else(|| HostError::BuilderMissing(builder.to_owned()))?;
        return Ok((builder.to_owned(), id));
    }
    for builder in [build::BUILDER, build::OFFLINE_BUILDER] {
        if let Some(id) = image_id(docker, builder).await {
            return Ok((builder.to_owned(), id));
        }
    }
    Err(HostError::NoBuilder)
}

async fn image_id(docker: &Docker, image: &str) -> Option<String> {
    docker
        .inspect_image(image)
        .await
        .ok()
        .and_then(|image| image.id)
}

/// Flags win over the project's settings, which win over jobwrap's defaults.
pub(crate) fn limits(
    job: &JobArgs,
    project: Option<&job_template_buildpack::config::Settings>,
) -> Limits {
    Limits {
        memory_bytes: job
            .memory
            .or(project.and_then(|p| p.memory_bytes))
            .unwrap_or(Limits::DEFAULT_MEMORY),
        cpus: job
            .cpus
            .or(project.and_then(|p| p.cpus))
            .unwrap_or(Limits::DEFAULT_CPUS),
        timeout: job
            .timeout
            .or(project.and_then(|p| p.timeout_seconds))
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .map_or(Limits::DEFAULT_TIMEOUT, Duration::from_secs_f64),
    }
}

async fn run_image(
    docker: &Docker,
    image: &str,
    job: &JobArgs,
    limits: &Limits,
    cleanup: &Cleanup,
    interrupt: &Interrupt,
) -> Result<Finished, HostError> {
    let inputs = job_inputs(job);
    let run_id = teardown::unique_id();
    container::run(docker, image, &inputs, limits, &run_id, cleanup, interrupt)
        .await
        .map_err(HostError::Run)
}

fn job_inputs(job: &JobArgs) -> Inputs {
    Inputs {
        data: job.data.clone(),
        params: job.params.clone(),
    }
}

/// The cluster reached and the inputs read, before any build or push.
async fn prepare_cluster(
    job: &JobArgs,
    backend: &BackendArgs,
) -> Result<kubernetes::Prepared, HostError> {
    let inputs = job_inputs(job);
    // Boxed: the cluster client's futures are large.
    Box::pin(kubernetes::prepare(backend.namespace.as_deref(), &inputs))
        .await
        .map_err(HostError::Kubernetes)
}

async fn run_on_cluster(
    cluster: kubernetes::Prepared,
    image: &str,
    limits: &Limits,
    backend: &BackendArgs,
    interrupt: &Interrupt,
) -> Result<Finished, HostError> {
    let request = kubernetes::KubeRun {
        image,
        limits,
        network_policy: backend.network_policy,
    };
    Box::pin(kubernetes::run(cluster, &request, interrupt))
        .await
        .map_err(HostError::Kubernetes)
}

/// The result on stdout (or status and result with `--json`); the job's exit code.
pub(crate) fn report(finished: &Finished, json: bool) -> u8 {
    if finished.oom_killed && finished.exit_code == 137 {
        eprintln!(
            "jobwrap: the job was killed for exceeding its memory limit (raise it with --memory)"
        );
    }
    if finished.timed_out_on_host {
        eprintln!("jobwrap: the job did not stop at its timeout and was killed");
    }
    let document = if json {
        serde_json::json!({ "status": finished.status, "result": finished.result })
    } else {
        finished.result.clone().unwrap_or(serde_json::Value::Null)
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{document}");
    let _ = stdout.flush();
    finished.exit_code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_project_and_the_project_over_defaults() {
        let job = JobArgs {
            data: None,
            params: None,
            timeout: Some(5.0),
            memory: None,
            cpus: None,
            json: false,
        };
        let project = job_template_buildpack::config::Settings {
            entrypoint: "src.program:run".into(),
            timeout_seconds: Some(90.0),
            memory_bytes: Some(2048),
            cpus: None,
            warnings: Vec::new(),
        };
        let limits = limits(&job, Some(&project));
        assert_eq!(limits.timeout, Duration::from_secs(5));
        assert_eq!(limits.memory_bytes, 2048);
        assert!((limits.cpus - Limits::DEFAULT_CPUS).abs() < f64::EPSILON);
        let defaults = super::limits(
            &JobArgs {
                timeout: None,
                ..job
            },
            None,
        );
        assert_eq!(defaults.timeout, Limits::DEFAULT_TIMEOUT);
        assert_eq!(defaults.memory_bytes, Limits::DEFAULT_MEMORY);
    }

    #[test]
    fn paths_in_messages_are_the_user_s() {
        let error = HostError::Stage(stage::StageError::NotAProject { path: "/p".into() });
        assert!(error.to_string().contains("/p is not a job project"));
        assert_eq!(error.exit_code(), 3);
    }
}
