//! The builders' structure, checked without a registry: `builder/builder.toml` (Paketo),
//! `builder/offline/builder.toml` and `package.toml`.
//!
//! The lifecycle only runs a group whose build plans resolve: every requirement is
//! provided by the same or an earlier buildpack, every provision is required by the same
//! or a later one. The checks below resolve each group the same way, over a table of
//! what each pinned buildpack's detect declares, so a group that loses job-template or a
//! requirement without a provider fails here and not on a user's build.
//!
//! The last test (ignored: it needs Docker Hub and the internet) creates `jobwrap/builder`
//! with the real pack and builds and runs each shared sample with it.

use job_template_buildpack::plan;
use jobwrap_integration_tests::{
    TARGET_TRIPLE, built_image, fixture, remove_image, run_job, samples,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const JOB_TEMPLATE: &str = "jobwrap/job-template";
const JOBWRAP_PYTHON: &str = "jobwrap/python";

/// Provisions that are the job's runtime: they must reach the run image, so some
/// buildpack of the group must require them at launch.
const NEEDED_AT_LAUNCH: [&str; 4] = [
    "cpython",
    "site-packages",
    "poetry-venv",
    "conda-environment",
];

// ---------------------------------------------------------------------------------------
// What each buildpack declares
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Requirement {
    name: String,
    launch: bool,
}

/// One alternative of a build plan (the primary plan or one of its `or`s).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Alternative {
    provides: BTreeSet<String>,
    requires: BTreeSet<Requirement>,
}

/// `launch` marks requirements with `metadata.launch = true`.
fn alternative(provides: &[&str], requires: &[&str], launch: bool) -> Alternative {
    Alternative {
        provides: provides.iter().map(|name| (*name).to_owned()).collect(),
        requires: requires
            .iter()
            .map(|name| Requirement {
                name: (*name).to_owned(),
                launch,
            })
            .collect(),
    }
}

/// A buildpack at one version and its plan alternatives, in order.
struct Known {
    id: &'static str,
    version: String,
    alternatives: Vec<Alternative>,
}

/// The job template's plan, from its crate's own constants (all requirements at launch
/// and build).
fn job_template_alternatives() -> Vec<Alternative> {
    vec![
        alternative(&[], plan::REQUIRES_WITH_DEPENDENCIES, true),
        alternative(&[], plan::REQUIRES_WITHOUT_DEPENDENCIES, true),
    ]
}

/// `jobwrap/python` is a binary-only crate, so its plan is repeated here from
/// `PROVIDES` in buildpacks/python/src/main.rs (it provides and requires the same names,
/// without metadata). `the_packaged_detects_declare_what_the_table_says` checks the
/// table against the real detect.
fn jobwrap_python_alternatives() -> Vec<Alternative> {
    let names = ["cpython", "site-packages"];
    vec![alternative(&names, &names, false)]
}

/// Every buildpack the builders use. The Paketo entries are read from each buildpack's
/// `detect.go` at the pinned tag (Paketo's Python composite 2.59.0); requirements that
/// only appear when a `BP_*_VERSION` variable is set are left out, as they name the
/// buildpack's own provision. python-start 0.17.14: its uv alternative (only with
/// `uv.lock`) is left out.
fn known_buildpacks() -> Vec<Known> {
    let paketo = |id, version: &str, alternatives| Known {
        id,
        version: version.to_owned(),
        alternatives,
    };
    let build = |provides: &[&str], requires: &[&str]| vec![alternative(provides, requires, false)];
    let at_launch = |requires: &[&str]| alternative(&[], requires, true);
    vec![
        paketo(
            "paketo-buildpacks/cpython",
            "1.18.40",
            build(&["cpython"], &[]),
        ),
        paketo(
            "paketo-buildpacks/pip",
            "0.29.0",
            build(&["pip"], &["cpython"]),
        ),
        paketo(
            "paketo-buildpacks/pip-install",
            "0.7.40",
            build(&["site-packages"], &["cpython", "pip"]),
        ),
        paketo(
            "paketo-buildpacks/pipenv",
            "1.29.2",
            build(&["pipenv"], &["pip", "cpython"]),
        ),
        paketo(
            "paketo-buildpacks/pipenv-install",
            "0.7.39",
            build(&["site-packages"], &["cpython", "pipenv"]),
        ),
        paketo(
            "paketo-buildpacks/poetry",
            "0.17.17",
            build(&["poetry"], &["pip", "cpython"]),
        ),
        paketo(
            "paketo-buildpacks/poetry-install",
            "0.6.45",
            build(&["poetry-venv"], &["cpython", "poetry"]),
        ),
        paketo(
            "paketo-buildpacks/miniconda",
            "0.11.37",
            build(&["conda"], &[]),
        ),
        paketo(
            "paketo-buildpacks/conda-env-update",
            "0.8.37",
            build(&["conda-environment"], &["conda"]),
        ),
        paketo(
            "paketo-buildpacks/python-start",
            "0.17.14",
            vec![
                at_launch(&["cpython", "site-packages"]),
                at_launch(&["cpython", "site-packages", "pipenv"]),
                at_launch(&["conda-environment"]),
                at_launch(&["pixi-environment"]),
                at_launch(&["cpython", "poetry", "poetry-venv"]),
                at_launch(&["cpython"]),
            ],
        ),
        Known {
            id: JOB_TEMPLATE,
            version: buildpack_version("buildpacks/job-template"),
            alternatives: job_template_alternatives(),
        },
        Known {
            id: JOBWRAP_PYTHON,
            version: buildpack_version("buildpacks/python"),
            alternatives: jobwrap_python_alternatives(),
        },
    ]
}

// ---------------------------------------------------------------------------------------
// The files
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct BuilderConfig {
    #[serde(default)]
    buildpacks: Vec<BuildpackSource>,
    order: Vec<Order>,
    lifecycle: Option<Lifecycle>,
    build: Option<ImageRef>,
    run: Option<RunImages>,
    stack: Option<Stack>,
}

#[derive(Deserialize)]
struct BuildpackSource {
    id: Option<String>,
    version: Option<String>,
    uri: String,
}

#[derive(Deserialize)]
struct Order {
    group: Vec<GroupEntry>,
}

#[derive(Deserialize, Clone)]
struct GroupEntry {
    id: String,
    version: Option<String>,
    #[serde(default)]
    optional: bool,
}

#[derive(Deserialize)]
struct Lifecycle {
    version: Option<String>,
    uri: Option<String>,
}

#[derive(Deserialize)]
struct ImageRef {
    image: String,
}

#[derive(Deserialize)]
struct RunImages {
    images: Vec<ImageRef>,
}

#[derive(Deserialize)]
struct Stack {
    id: String,
    #[serde(rename = "build-image")]
    build_image: String,
    #[serde(rename = "run-image")]
    run_image: String,
}

#[derive(Deserialize)]
struct PackageConfig {
    buildpack: PackageSource,
}

#[derive(Deserialize)]
struct PackageSource {
    uri: String,
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
}

fn parse<T: serde::de::DeserializeOwned>(relative: &str) -> T {
    let path = workspace_root().join(relative);
    let text = fs_err::read_to_string(&path).expect("readable");
    toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn paketo_builder() -> BuilderConfig {
    parse("builder/builder.toml")
}

fn offline_builder() -> BuilderConfig {
    parse("builder/offline/builder.toml")
}

fn buildpack_version(crate_dir: &str) -> String {
    #[derive(Deserialize)]
    struct Descriptor {
        buildpack: Info,
    }
    #[derive(Deserialize)]
    struct Info {
        version: String,
    }
    parse::<Descriptor>(&format!("{crate_dir}/buildpack.toml"))
        .buildpack
        .version
}

/// Where `cargo libcnb package --release` puts a buildpack (its id with `/` as `_`).
fn packaged_dir(id: &str) -> PathBuf {
    workspace_root()
        .join("packaged")
        .join(TARGET_TRIPLE)
        .join("release")
        .join(id.replace('/', "_"))
}

// ---------------------------------------------------------------------------------------
// The checks, as functions returning what is wrong, so that they can be shown to fail
// ---------------------------------------------------------------------------------------

/// The alternative chosen for each buildpack of a group, trying combinations in order
/// (earlier buildpacks' alternatives vary slowest), or `None` when none resolves.
fn resolve(plans: &[&[Alternative]]) -> Option<Vec<usize>> {
    let mut choice = vec![0; plans.len()];
    loop {
        let chosen: Vec<&Alternative> = plans
            .iter()
            .zip(&choice)
            .map(|(alternatives, &index)| &alternatives[index])
            .collect();
        if resolves(&chosen) {
            return Some(choice);
        }
        // Next combination; the last buildpack's alternatives vary fastest.
        let mut position = plans.len();
        loop {
            if position == 0 {
                return None;
            }
            position -= 1;
            choice[position] += 1;
            if choice[position] < plans[position].len() {
                break;
            }
            choice[position] = 0;
        }
    }
}

fn resolves(chosen: &[&Alternative]) -> bool {
    chosen.iter().enumerate().all(|(index, alternative)| {
        let required_here_or_later = |name: &String| {
            chosen[index..]
                .iter()
                .any(|later| later.requires.iter().any(|r| &r.name == name))
        };
        let provided_here_or_earlier = |name: &String| {
            chosen[..=index]
                .iter()
                .any(|earlier| earlier.provides.contains(name))
        };
        alternative.provides.iter().all(required_here_or_later)
            && alternative
                .requires
                .iter()
                .all(|requirement| provided_here_or_earlier(&requirement.name))
    })
}

/// Everything wrong with one order group.
fn group_problems(group: &[GroupEntry], known: &[Known], pinned: bool) -> Vec<String> {
    let ids: Vec<&str> = group.iter().map(|entry| entry.id.as_str()).collect();
    let mut problems = Vec::new();
    if ids.last() != Some(&JOB_TEMPLATE) {
        problems.push(format!(
            "the group {ids:?} does not end with {JOB_TEMPLATE}"
        ));
    }
    let mut plans = Vec::new();
    for entry in group {
        // Optional buildpacks may drop out of a group; none of ours are, and resolving
        // them would need every subset tried.
        if entry.optional {
            problems.push(format!(
                "{} is optional; the check does not model that",
                entry.id
            ));
        }
        let Some(buildpack) = known.iter().find(|known| known.id == entry.id) else {
            problems.push(format!(
                "{} is not in the table of known buildpacks",
                entry.id
            ));
            continue;
        };
        match &entry.version {
            Some(version) if *version != buildpack.version => problems.push(format!(
                "{} is at {version} in the group but the table knows {}",
                entry.id, buildpack.version
            )),
            None if pinned => problems.push(format!("{} has no version in the group", entry.id)),
            _ => {}
        }
        plans.push(buildpack.alternatives.as_slice());
    }
    if !problems.is_empty() {
        return problems;
    }
    let Some(choice) = resolve(&plans) else {
        let missing: BTreeSet<&str> = plans
            .iter()
            .flat_map(|alternatives| alternatives.iter())
            .flat_map(|alternative| alternative.requires.iter())
            .map(|requirement| requirement.name.as_str())
            .filter(|name| {
                !plans
                    .iter()
                    .flat_map(|alternatives| alternatives.iter())
                    .any(|alternative| alternative.provides.contains(*name))
            })
            .collect();
        return vec![format!(
            "the build plans of {ids:?} do not resolve (required and never provided: {missing:?}; \
             or a provision nobody requires)"
        )];
    };
    let chosen: Vec<&Alternative> = plans
        .iter()
        .zip(&choice)
        .map(|(alternatives, &index)| &alternatives[index])
        .collect();
    for name in NEEDED_AT_LAUNCH {
        let provided = chosen
            .iter()
            .any(|alternative| alternative.provides.contains(name));
        let at_launch = chosen
            .iter()
            .flat_map(|alternative| alternative.requires.iter())
            .any(|requirement| requirement.name == name && requirement.launch);
        if provided && !at_launch {
            problems.push(format!(
                "in {ids:?} nothing requires {name} at launch, so it would not reach the run image"
            ));
        }
    }
    problems
}

/// An image reference that names a tag other than `latest`, or a digest.
fn is_pinned_image(reference: &str) -> bool {
    if reference.contains("@sha256:") {
        return true;
    }
    let name = reference.rsplit('/').next().unwrap_or_default();
    name.split_once(':')
        .is_some_and(|(_, tag)| !tag.is_empty() && tag != "latest")
}

fn is_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// The Paketo builder's sources: each Paketo buildpack from Docker Hub at the version
/// the table knows, job-template from its libcnb-cargo output.
fn source_problems(config: &BuilderConfig, known: &[Known]) -> Vec<String> {
    let mut problems = Vec::new();
    for source in &config.buildpacks {
        let id = source.id.as_deref().unwrap_or_default();
        let Some(buildpack) = known.iter().find(|known| known.id == id) else {
            problems.push(format!("{} ({id:?}) is not a known buildpack", source.uri));
            continue;
        };
        if source.version.as_deref() != Some(buildpack.version.as_str()) {
            problems.push(format!(
                "{id}: version {:?} but the table knows {}",
                source.version, buildpack.version
            ));
        }
        if let Some(name) = id.strip_prefix("paketo-buildpacks/") {
            let expected = format!(
                "docker://docker.io/paketobuildpacks/{name}:{}",
                buildpack.version
            );
            if source.uri != expected {
                problems.push(format!("{id}: uri {} is not {expected}", source.uri));
            }
        }
    }
    for entry in config.order.iter().flat_map(|order| &order.group) {
        if !config
            .buildpacks
            .iter()
            .any(|source| source.id.as_deref() == Some(entry.id.as_str()))
        {
            problems.push(format!(
                "{} is in a group but not among [[buildpacks]]",
                entry.id
            ));
        }
    }
    problems
}

fn all_group_problems(config: &BuilderConfig, pinned: bool) -> Vec<String> {
    let known = known_buildpacks();
    config
        .order
        .iter()
        .flat_map(|order| group_problems(&order.group, &known, pinned))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[test]
fn every_paketo_group_ends_with_the_job_template_and_resolves() {
    let config = paketo_builder();
    assert!(config.order.len() >= 5, "pip, pipenv, poetry, conda, none");
    let problems = all_group_problems(&config, true);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_offline_group_ends_with_the_job_template_and_resolves() {
    let config = offline_builder();
    let problems = all_group_problems(&config, false);
    assert!(problems.is_empty(), "{problems:#?}");
    for order in &config.order {
        assert_eq!(
            order.group.first().map(|entry| entry.id.as_str()),
            Some(JOBWRAP_PYTHON)
        );
    }
}

#[test]
fn the_paketo_builder_covers_each_kind_of_project() {
    let config = paketo_builder();
    let groups: Vec<Vec<&str>> = config
        .order
        .iter()
        .map(|order| order.group.iter().map(|entry| entry.id.as_str()).collect())
        .collect();
    for marker in [
        "paketo-buildpacks/pip-install",
        "paketo-buildpacks/pipenv-install",
        "paketo-buildpacks/poetry-install",
        "paketo-buildpacks/conda-env-update",
    ] {
        assert!(
            groups.iter().any(|group| group.contains(&marker)),
            "no group with {marker}"
        );
    }
    assert!(
        groups
            .iter()
            .any(|group| group == &["paketo-buildpacks/cpython", JOB_TEMPLATE]),
        "no group for projects without a dependency file"
    );
    // A project with a dependency file must not fall through to the group without one
    // (its dependencies would be skipped): that group comes last.
    assert_eq!(groups.last().map(Vec::len), Some(2));
    let ids: Vec<&str> = config
        .buildpacks
        .iter()
        .filter_map(|source| source.id.as_deref())
        .collect();
    assert!(
        !ids.contains(&"paketo-buildpacks/procfile"),
        "a Procfile would add another default process"
    );
}

#[test]
fn the_job_template_requirements_are_what_both_python_providers_provide() {
    let known = known_buildpacks();
    let provides = |id: &str| -> BTreeSet<String> {
        known
            .iter()
            .filter(|known| known.id == id)
            .flat_map(|known| &known.alternatives)
            .flat_map(|alternative| alternative.provides.iter().cloned())
            .collect()
    };
    let paketo: BTreeSet<String> = known
        .iter()
        .filter(|known| known.id.starts_with("paketo-buildpacks/"))
        .flat_map(|known| &known.alternatives)
        .flat_map(|alternative| alternative.provides.iter().cloned())
        .collect();
    for name in plan::REQUIRES_WITH_DEPENDENCIES
        .iter()
        .chain(plan::REQUIRES_WITHOUT_DEPENDENCIES)
    {
        assert!(
            provides(JOBWRAP_PYTHON).contains(*name),
            "jobwrap/python lacks {name}"
        );
        assert!(
            paketo.contains(*name),
            "no Paketo buildpack provides {name}"
        );
    }
    // The alternative without dependencies is a strict subset, tried second.
    assert!(
        plan::REQUIRES_WITHOUT_DEPENDENCIES
            .iter()
            .all(|name| plan::REQUIRES_WITH_DEPENDENCIES.contains(name))
    );
}

#[test]
fn everything_is_pinned() {
    let config = paketo_builder();
    let problems = source_problems(&config, &known_buildpacks());
    assert!(problems.is_empty(), "{problems:#?}");
    let lifecycle = config.lifecycle.expect("[lifecycle]");
    assert!(lifecycle.version.as_deref().is_some_and(is_version));

    let build = config.build.expect("[build]").image;
    let run = config.run.expect("[run]").images;
    assert_eq!(run.len(), 1);
    let stack = config.stack.expect("[stack]");
    assert_eq!(stack.id, "io.buildpacks.stacks.jammy");
    assert_eq!(stack.build_image, build);
    assert_eq!(stack.run_image, run[0].image);
    for image in [&build, &run[0].image] {
        assert!(is_pinned_image(image), "{image} is not pinned");
    }

    let offline = offline_builder();
    let offline_lifecycle = offline.lifecycle.expect("[lifecycle]");
    assert!(
        offline_lifecycle
            .uri
            .as_deref()
            .is_some_and(|uri| uri.contains("lifecycle-v")),
        "the offline builder must use the local lifecycle"
    );
    for image in std::iter::once(offline.build.expect("[build]").image).chain(
        offline
            .run
            .expect("[run]")
            .images
            .into_iter()
            .map(|i| i.image),
    ) {
        assert!(is_pinned_image(&image), "{image} is not pinned");
    }
}

#[test]
fn the_builders_and_package_toml_use_the_libcnb_cargo_output() {
    let expected = packaged_dir(JOB_TEMPLATE);
    let package: PackageConfig = parse("package.toml");
    assert_eq!(workspace_root().join(package.buildpack.uri), expected);
    for (dir, config) in [
        ("builder", paketo_builder()),
        ("builder/offline", offline_builder()),
    ] {
        let source = config
            .buildpacks
            .iter()
            .find(|source| source.id.as_deref() == Some(JOB_TEMPLATE))
            .expect("job-template among [[buildpacks]]");
        let resolved = workspace_root().join(dir).join(&source.uri);
        assert_eq!(
            normalise(&resolved),
            expected,
            "{dir}/builder.toml refers to {}",
            source.uri
        );
    }
}

/// `a/b/../c` → `a/c`, without touching the file system (the directory may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

// The checks themselves fail on broken builders.

fn group(ids: &[&str], version: bool) -> Vec<GroupEntry> {
    let known = known_buildpacks();
    ids.iter()
        .map(|id| GroupEntry {
            id: (*id).to_owned(),
            version: version.then(|| {
                known
                    .iter()
                    .find(|known| known.id == *id)
                    .map(|known| known.version.clone())
                    .unwrap_or_default()
            }),
            optional: false,
        })
        .collect()
}

#[test]
fn a_group_without_the_job_template_is_reported() {
    let problems = group_problems(
        &group(
            &[
                "paketo-buildpacks/cpython",
                "paketo-buildpacks/python-start",
            ],
            true,
        ),
        &known_buildpacks(),
        true,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("does not end with jobwrap/job-template")),
        "{problems:?}"
    );
}

#[test]
fn a_requirement_without_a_provider_is_reported() {
    // No cpython before job-template: the conda group without Paketo's CPython.
    let problems = group_problems(
        &group(
            &[
                "paketo-buildpacks/miniconda",
                "paketo-buildpacks/conda-env-update",
                "paketo-buildpacks/python-start",
                JOB_TEMPLATE,
            ],
            true,
        ),
        &known_buildpacks(),
        true,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("do not resolve") && p.contains("cpython")),
        "{problems:?}"
    );
    // A provider after the requirer does not count.
    let problems = group_problems(
        &group(
            &[JOB_TEMPLATE, "paketo-buildpacks/cpython", JOB_TEMPLATE],
            true,
        ),
        &known_buildpacks(),
        true,
    );
    assert!(
        problems.iter().any(|p| p.contains("do not resolve")),
        "{problems:?}"
    );
}

#[test]
fn a_provision_nobody_requires_and_unpinned_or_unknown_entries_are_reported() {
    let known = known_buildpacks();
    // poetry-venv without python-start: nothing requires it.
    let poetry = group(
        &[
            "paketo-buildpacks/cpython",
            "paketo-buildpacks/pip",
            "paketo-buildpacks/poetry",
            "paketo-buildpacks/poetry-install",
            JOB_TEMPLATE,
        ],
        true,
    );
    assert!(!group_problems(&poetry, &known, true).is_empty());
    let unpinned = group(&["paketo-buildpacks/cpython", JOB_TEMPLATE], false);
    assert_eq!(group_problems(&unpinned, &known, true).len(), 2);
    assert!(group_problems(&unpinned, &known, false).is_empty());
    let mut stale = group(&["paketo-buildpacks/cpython", JOB_TEMPLATE], true);
    stale[0].version = Some("1.0.0".to_owned());
    assert_eq!(group_problems(&stale, &known, true).len(), 1);
    let unknown = group(
        &["paketo-buildpacks/cpython", "heroku/python", JOB_TEMPLATE],
        false,
    );
    assert_eq!(group_problems(&unknown, &known, false).len(), 1);
    assert!(!is_pinned_image(
        "docker.io/paketobuildpacks/run-jammy-base:latest"
    ));
    assert!(!is_pinned_image("localhost:5000/run"));
    assert!(is_pinned_image("localhost:5000/run:1.2"));
}

#[test]
fn the_dependencies_reach_the_run_image_in_the_pip_group() {
    // pip-install requires nothing at launch; job-template's first alternative does.
    let known = known_buildpacks();
    let pip = group(
        &[
            "paketo-buildpacks/cpython",
            "paketo-buildpacks/pip",
            "paketo-buildpacks/pip-install",
            JOB_TEMPLATE,
        ],
        true,
    );
    let plans: Vec<&[Alternative]> = pip
        .iter()
        .map(|entry| {
            known
                .iter()
                .find(|known| known.id == entry.id)
                .map(|known| known.alternatives.as_slice())
                .expect("known")
        })
        .collect();
    assert_eq!(resolve(&plans), Some(vec![0, 0, 0, 0]));
    // The same group with a job template that asked for CPython only would not resolve:
    // site-packages would be provided and never required.
    let mut cpython_only = plans.clone();
    let only = [alternative(&[], plan::REQUIRES_WITHOUT_DEPENDENCIES, true)];
    cpython_only[3] = &only;
    assert_eq!(resolve(&cpython_only), None);
}

/// The real detect of both packaged buildpacks (`cargo libcnb package`, run by
/// scripts/setup) on a job project declares the plans the table holds.
#[test]
fn the_packaged_detects_declare_what_the_table_says() {
    let known = known_buildpacks();
    for id in [JOB_TEMPLATE, JOBWRAP_PYTHON] {
        let dir = packaged_dir(id);
        let detect = dir.join("bin/detect");
        assert!(
            detect.exists(),
            "{} is missing: run `cargo libcnb package --release --target {TARGET_TRIPLE}` (scripts/setup does)",
            detect.display()
        );
        let work = tempfile::tempdir().expect("temp dir");
        let platform = work.path().join("platform");
        fs_err::create_dir_all(platform.join("env")).expect("platform dir");
        let plan_path = work.path().join("plan.toml");
        let output = Command::new(&detect)
            .arg(&platform)
            .arg(&plan_path)
            .current_dir(fixture("planqk-template"))
            .env_clear()
            .env("CNB_BUILDPACK_DIR", &dir)
            .env("CNB_TARGET_OS", "linux")
            .env("CNB_TARGET_ARCH", "amd64")
            .env("CNB_TARGET_DISTRO_NAME", "debian")
            .env("CNB_TARGET_DISTRO_VERSION", "12")
            .output()
            .expect("detect runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{id} did not pass detection:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let declared = plan_alternatives(&fs_err::read_to_string(&plan_path).expect("plan"));
        let expected = &known
            .iter()
            .find(|known| known.id == id)
            .expect("in the table")
            .alternatives;
        assert_eq!(
            &declared, expected,
            "{id}: the packaged detect and the table differ (package again with \
             `cargo libcnb package --release --target {TARGET_TRIPLE}` if the source changed)"
        );
    }
}

/// A build plan TOML (`provides`, `requires`, `or`) as alternatives.
fn plan_alternatives(text: &str) -> Vec<Alternative> {
    #[derive(Deserialize)]
    struct Plan {
        #[serde(default)]
        provides: Vec<Named>,
        #[serde(default)]
        requires: Vec<Required>,
        #[serde(default)]
        or: Vec<Plan>,
    }
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    #[derive(Deserialize)]
    struct Required {
        name: String,
        #[serde(default)]
        metadata: toml::Table,
    }
    fn one(plan: &Plan) -> Alternative {
        Alternative {
            provides: plan.provides.iter().map(|p| p.name.clone()).collect(),
            requires: plan
                .requires
                .iter()
                .map(|r| Requirement {
                    name: r.name.clone(),
                    launch: r.metadata.get("launch").and_then(toml::Value::as_bool) == Some(true),
                })
                .collect(),
        }
    }
    let plan: Plan = toml::from_str(text).expect("a build plan");
    std::iter::once(one(&plan))
        .chain(plan.or.iter().map(one))
        .collect()
}

/// Creates `jobwrap/builder` from builder/builder.toml and builds and runs each shared
/// sample (the pip group) and a `bp-*` fixture for each other group with it. Needs
/// Docker Hub (the Paketo images) and the internet (Paketo downloads Python and the
/// packages at build time), and job-template packaged by `cargo libcnb package --release`.
#[test]
#[ignore = "needs Docker Hub and the internet"]
fn the_paketo_builder_builds_and_runs_a_project_of_each_kind() {
    const BUILDER: &str = "jobwrap/builder";
    assert!(
        packaged_dir(JOB_TEMPLATE).join("bin/build").exists(),
        "package job-template first"
    );
    let created = Command::new("pack")
        .args(["builder", "create", BUILDER, "--config"])
        .arg(workspace_root().join("builder/builder.toml"))
        .status()
        .expect("pack runs");
    assert!(created.success(), "pack builder create failed");

    // numpy comes from the package index, imported by the job at run time.
    let shared = [
        samples::planqk_template(),
        samples::kwargs_style(),
        samples::numpy_result(),
    ]
    .map(|sample| {
        let params = sample.params.unwrap_or_else(|| json!({}));
        (
            sample.fixture,
            sample.data.unwrap_or_default(),
            params,
            sample.result,
        )
    });
    // One project per other group: the job imports `six` from the package manager's
    // environment, which shows that environment is the one it runs in (for Conda: that
    // the environment's python3 comes before Paketo's CPython on PATH).
    let words = || json!({"words": ["a", "b"]});
    let from_six = || json!({"dependency": "six", "words": "a b"});
    let groups = [
        ("bp-pipenv", words(), json!({}), from_six()),
        ("bp-poetry", words(), json!({}), from_six()),
        ("bp-conda", words(), json!({}), from_six()),
        (
            "bp-no-dependencies",
            json!({"values": [1, 2, 3]}),
            json!({"factor": 2}),
            json!({"total": 12}),
        ),
    ];
    for (name, data, params, expected) in shared.into_iter().chain(groups) {
        let image = format!("jobwrap-test/paketo-{name}");
        let output = Command::new("pack")
            .args([
                "build",
                &image,
                "--builder",
                BUILDER,
                "--trust-builder",
                "--path",
            ])
            .arg(fixture(name))
            .output()
            .expect("pack runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(built_image(&stdout), image);
        let run = run_job(&image, Some(&data), Some(&params), &[]);
        remove_image(&image);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(run.final_json(), expected, "{name}");
    }
}
