//! `jobwrap init`: a new project in the contract's layout that runs as it is.

use crate::errors::HostError;
use indoc::indoc;
use std::path::Path;

const FILES: &[(&str, &str)] = &[
    ("src/__init__.py", ""),
    (
        "src/program.py",
        indoc! {r#"
            """The job: jobwrap calls run() with the parsed data.json and params.json."""


            def run(data, params):
                name = data.get("name", "world")
                times = int(params.get("times", 1))
                return {"greeting": " ".join([f"Hello, {name}!"] * times)}
        "#},
    ),
    (
        "requirements.txt",
        "# One requirement per line, e.g. numpy==2.1.3\n",
    ),
    (
        "planqk.json",
        indoc! {r#"
            {
              "name": "my-job",
              "resources": { "cpu": 1, "memory": 1 },
              "runtime": "PYTHON_TEMPLATE"
            }
        "#},
    ),
    ("input/data.json", "{\"name\": \"jobwrap\"}\n"),
    ("input/params.json", "{\"times\": 2}\n"),
    (
        ".jobwrapignore",
        "# Files the build should not see (gitignore syntax).\ninput/\n",
    ),
];

pub(crate) fn init(dir: &Path) -> Result<(), HostError> {
    if dir.join("src/program.py").exists() || dir.join("planqk.json").exists() {
        return Err(HostError::InitExists(dir.to_owned()));
    }
    for (name, contents) in FILES {
        let path = dir.join(name);
        let error = |error| HostError::Init {
            path: path.clone(),
            error,
        };
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(error)?;
        }
        fs_err::write(&path, contents).map_err(error)?;
    }
    eprintln!(
        "Created a job project in {}. Run it:\n  jobwrap run {0} --data {0}/input/data.json --params {0}/input/params.json",
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_project_that_the_buildpack_accepts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = dir.path().join("job");
        init(&project).expect("creates");
        let settings =
            job_template_buildpack::config::read(&project, None).expect("valid settings");
        assert_eq!(settings.entrypoint, "src.program:run");
        assert!(project.join("src/program.py").is_file());
        assert!(matches!(init(&project), Err(HostError::InitExists(_))));
    }
}
