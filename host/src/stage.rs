//! Staging: the user's project is copied into a fresh private folder before anything
//! else reads it. Links out of the project, version-control and virtual-environment
//! folders, caches and `.jobwrapignore` matches never reach the build.

use crate::archive::{self, ArchiveError};
use ignore::WalkBuilder;
use job_template_buildpack::MARKERS;
use std::path::{Path, PathBuf};

/// At most this many files and bytes are staged.
pub(crate) const MAX_FILES: usize = 20_000;
pub(crate) const MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Folders that are never part of a job's source.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".ipynb_checkpoints",
    "node_modules",
];

#[derive(Debug)]
pub(crate) enum StageError {
    Missing {
        path: PathBuf,
        error: std::io::Error,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Walk(ignore::Error),
    LinkOutside {
        path: PathBuf,
        target: PathBuf,
    },
    TooManyFiles {
        limit: usize,
    },
    TooLarge {
        limit: u64,
    },
    Archive(ArchiveError),
    NotAProject {
        path: PathBuf,
    },
}

/// Copies `project` (a folder or a `.zip`) into a fresh temporary folder.
pub(crate) fn stage(project: &Path) -> Result<tempfile::TempDir, StageError> {
    let metadata = fs_err::metadata(project).map_err(|error| StageError::Missing {
        path: project.to_owned(),
        error,
    })?;
    let staged = tempfile::Builder::new()
        .prefix(&crate::teardown::temp_prefix("stage"))
        .tempdir()
        .map_err(|error| StageError::Io {
            path: std::env::temp_dir(),
            error,
        })?;
    if metadata.is_file() {
        archive::extract(project, staged.path(), MAX_FILES, MAX_BYTES)
            .map_err(StageError::Archive)?;
    } else {
        copy_project(project, staged.path())?;
    }
    if !MARKERS
        .iter()
        .any(|marker| staged.path().join(marker).is_file())
    {
        return Err(StageError::NotAProject {
            path: project.to_owned(),
        });
    }
    Ok(staged)
}

fn copy_project(project: &Path, target: &Path) -> Result<(), StageError> {
    let root = fs_err::canonicalize(project).map_err(|error| StageError::Missing {
        path: project.to_owned(),
        error,
    })?;
    let walker = WalkBuilder::new(&root)
        .standard_filters(false)
        .follow_links(false)
        .add_custom_ignore_filename(".jobwrapignore")
        .filter_entry(|entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !(is_dir
                && entry.depth() > 0
                && (entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| SKIPPED_DIRS.contains(&name))
                    || entry.path().join("pyvenv.cfg").exists()))
        })
        .build();
    let (mut files, mut bytes) = (0_usize, 0_u64);
    for entry in walker {
        let entry = entry.map_err(StageError::Walk)?;
        let relative = entry.path().strip_prefix(&root).unwrap_or(entry.path());
        if relative.as_os_str().is_empty() {
            continue;
        }
        let destination = target.join(relative);
        let io = |error| StageError::Io {
            path: entry.path().to_owned(),
            error,
        };
        let file_type = entry
            .file_type()
            .ok_or_else(|| io(std::io::Error::other("unknown file type")))?;
        let source = if file_type.is_symlink() {
            // A link inside the project is staged as what it points to; one that leaves
            // the project could read any file of the host into the image.
            let resolved = fs_err::canonicalize(entry.path()).map_err(io)?;
            if !resolved.starts_with(&root) {
                return Err(StageError::LinkOutside {
                    path: relative.to_owned(),
                    target: resolved,
                });
            }
            if resolved.is_dir() {
                continue;
            }
            resolved
        } else if file_type.is_dir() {
            fs_err::create_dir_all(&destination).map_err(io)?;
            continue;
        } else if file_type.is_file() {
            entry.path().to_owned()
        } else {
            continue;
        };
        files += 1;
        if files > MAX_FILES {
            return Err(StageError::TooManyFiles { limit: MAX_FILES });
        }
        bytes += fs_err::metadata(&source).map_err(io)?.len();
        if bytes > MAX_BYTES {
            return Err(StageError::TooLarge { limit: MAX_BYTES });
        }
        if let Some(parent) = destination.parent() {
            fs_err::create_dir_all(parent).map_err(io)?;
        }
        fs_err::copy(&source, &destination).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, contents) in files {
            let path = dir.path().join(name);
            fs_err::create_dir_all(path.parent().expect("parent")).expect("dirs");
            fs_err::write(path, contents).expect("write");
        }
        dir
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = walkdir(dir)
            .into_iter()
            .map(|p| p.strip_prefix(dir).expect("inside").display().to_string())
            .collect();
        names.sort();
        names
    }

    fn walkdir(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in fs_err::read_dir(dir).expect("read") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                found.extend(walkdir(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

    #[test]
    fn copies_the_source_and_skips_vcs_venvs_caches_and_ignored_files() {
        let source = project(&[
            ("src/program.py", "def run(data, params): pass"),
            ("src/__pycache__/program.cpython-311.pyc", "x"),
            (".git/config", "x"),
            (".venv/bin/python", "x"),
            ("env2/pyvenv.cfg", "home = /usr"),
            ("env2/lib/site.py", "x"),
            ("secrets/token.txt", "x"),
            ("notes.log", "x"),
            (".jobwrapignore", "secrets/\n*.log\n"),
            ("requirements.txt", "numpy"),
        ]);
        let staged = stage(source.path()).expect("stages");
        assert_eq!(
            listing(staged.path()),
            [".jobwrapignore", "requirements.txt", "src/program.py"]
        );
    }

    #[test]
    fn a_link_out_of_the_project_is_refused_naming_it() {
        let source = project(&[("src/program.py", "")]);
        std::os::unix::fs::symlink("/etc/passwd", source.path().join("src/passwd")).expect("link");
        match stage(source.path()) {
            Err(StageError::LinkOutside { path, target }) => {
                assert_eq!(path, PathBuf::from("src/passwd"));
                assert_eq!(target, PathBuf::from("/etc/passwd"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_link_inside_the_project_is_staged_as_its_file() {
        let source = project(&[("src/program.py", "code"), ("src/data.json", "{}")]);
        std::os::unix::fs::symlink("data.json", source.path().join("src/alias.json"))
            .expect("link");
        let staged = stage(source.path()).expect("stages");
        let alias = staged.path().join("src/alias.json");
        assert!(!fs_err::symlink_metadata(&alias).expect("meta").is_symlink());
        assert_eq!(fs_err::read_to_string(alias).expect("read"), "{}");
    }

    #[test]
    fn a_folder_without_a_job_project_is_refused() {
        let source = project(&[("main.py", "")]);
        assert!(matches!(
            stage(source.path()),
            Err(StageError::NotAProject { .. })
        ));
        assert!(matches!(
            stage(Path::new("/nonexistent/project")),
            Err(StageError::Missing { .. })
        ));
    }
}
