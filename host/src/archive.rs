//! A project uploaded as a `.zip` (`PlanQK`'s `user_code.zip`). Every entry is checked
//! before anything is written: no path leaving the folder, no links, bounded count, size
//! and compression ratio; sizes are enforced again while extracting, since headers lie.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// A higher ratio of uncompressed to compressed size is treated as a bomb.
const MAX_RATIO: u64 = 200;

#[derive(Debug)]
pub(crate) enum ArchiveError {
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    Corrupt {
        path: PathBuf,
        error: zip::result::ZipError,
    },
    UnsafePath {
        name: String,
    },
    Link {
        name: String,
    },
    TooManyFiles {
        limit: usize,
    },
    TooLarge {
        limit: u64,
    },
    Bomb {
        name: String,
        ratio: u64,
    },
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

pub(crate) fn extract(
    archive: &Path,
    target: &Path,
    max_files: usize,
    max_bytes: u64,
) -> Result<(), ArchiveError> {
    let file = fs_err::File::open(archive).map_err(|error| ArchiveError::Open {
        path: archive.to_owned(),
        error,
    })?;
    let corrupt = |error| ArchiveError::Corrupt {
        path: archive.to_owned(),
        error,
    };
    let mut zip = zip::ZipArchive::new(file).map_err(corrupt)?;
    if zip.len() > max_files {
        return Err(ArchiveError::TooManyFiles { limit: max_files });
    }

    // First pass: names, kinds and declared sizes only.
    let mut entries = Vec::new();
    let mut declared: u64 = 0;
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(corrupt)?;
        let name = entry.name().to_owned();
        let Some(relative) = safe_relative(&name) else {
            return Err(ArchiveError::UnsafePath { name });
        };
        if entry
            .unix_mode()
            .is_some_and(|mode| mode & 0o170_000 == 0o120_000)
        {
            return Err(ArchiveError::Link { name });
        }
        if relative.starts_with("__MACOSX") {
            continue;
        }
        declared = declared.saturating_add(entry.size());
        if declared > max_bytes {
            return Err(ArchiveError::TooLarge { limit: max_bytes });
        }
        let ratio = entry.size() / entry.compressed_size().max(1);
        if entry.size() > 1024 * 1024 && ratio > MAX_RATIO {
            return Err(ArchiveError::Bomb { name, ratio });
        }
        entries.push((index, relative, entry.is_dir()));
    }
    let strip = single_top_folder(&entries);

    // Second pass: write, counting the bytes actually produced.
    let mut written: u64 = 0;
    for (index, relative, is_dir) in entries {
        let relative = match &strip {
            Some(top) => match relative.strip_prefix(top) {
                Ok(rest) if !rest.as_os_str().is_empty() => rest.to_owned(),
                _ => continue,
            },
            None => relative,
        };
        let destination = target.join(&relative);
        let write_error = |error| ArchiveError::Write {
            path: relative.clone(),
            error,
        };
        if is_dir {
            fs_err::create_dir_all(&destination).map_err(write_error)?;
            continue;
        }
        if let Some(parent) = destination.parent() {
            fs_err::create_dir_all(parent).map_err(write_error)?;
        }
        let mut entry = zip.by_index(index).map_err(corrupt)?;
        let mut output = fs_err::File::create(&destination).map_err(write_error)?;
        let allowed = max_bytes - written;
        let copied =
            std::io::copy(&mut (&mut entry).take(allowed + 1), &mut output).map_err(write_error)?;
        written += copied;
        if copied > allowed {
            return Err(ArchiveError::TooLarge { limit: max_bytes });
        }
    }
    Ok(())
}

/// The entry's path if it stays inside the folder: relative, no `..`, no root.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!clean.as_os_str().is_empty() && !name.contains('\\')).then_some(clean)
}

/// `user_code/...` everywhere: the files of that one folder are the project.
fn single_top_folder(entries: &[(usize, PathBuf, bool)]) -> Option<PathBuf> {
    let mut tops = entries
        .iter()
        .filter_map(|(_, path, _)| path.components().next());
    let first = tops.next()?;
    let all_same = entries
        .iter()
        .all(|(_, path, _)| path.components().next() == Some(first));
    let has_nested = entries
        .iter()
        .any(|(_, path, _)| path.components().count() > 1);
    (all_same && has_nested).then(|| PathBuf::from(first.as_os_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut writer = zip::ZipWriter::new(file.reopen().expect("reopen"));
        for (name, contents) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .expect("entry");
            writer.write_all(contents).expect("write");
        }
        writer.finish().expect("finish");
        file
    }

    fn extract_into(archive: &Path) -> (tempfile::TempDir, Result<(), ArchiveError>) {
        let target = tempfile::tempdir().expect("target");
        let result = extract(archive, target.path(), 100, 10 * 1024 * 1024);
        (target, result)
    }

    #[test]
    fn extracts_and_unwraps_a_single_top_folder() {
        let archive = zip_of(&[
            ("user_code/src/program.py", b"def run(d, p): pass"),
            ("user_code/requirements.txt", b""),
        ]);
        let (target, result) = extract_into(archive.path());
        result.expect("extracts");
        assert!(target.path().join("src/program.py").is_file());
        assert!(target.path().join("requirements.txt").is_file());
    }

    #[test]
    fn refuses_path_traversal_and_absolute_paths_before_writing() {
        for name in ["../evil.py", "src/../../evil.py", "/etc/cron.d/evil"] {
            let archive = zip_of(&[("src/program.py", b""), (name, b"x")]);
            let (target, result) = extract_into(archive.path());
            assert!(
                matches!(result, Err(ArchiveError::UnsafePath { .. })),
                "{name}: {result:?}"
            );
            assert!(
                !target.path().join("src/program.py").exists(),
                "nothing written"
            );
        }
    }

    #[test]
    fn refuses_links() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut writer = zip::ZipWriter::new(file.reopen().expect("reopen"));
        writer
            .add_symlink("src/passwd", "/etc/passwd", SimpleFileOptions::default())
            .expect("link");
        writer.finish().expect("finish");
        let (_, result) = extract_into(file.path());
        assert!(
            matches!(result, Err(ArchiveError::Link { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn refuses_decompression_bombs_and_oversized_archives() {
        let zeros = vec![0_u8; 8 * 1024 * 1024];
        let archive = zip_of(&[("src/program.py", b""), ("zeros.bin", &zeros)]);
        let (_, result) = extract_into(archive.path());
        assert!(
            matches!(result, Err(ArchiveError::Bomb { .. })),
            "{result:?}"
        );

        let target = tempfile::tempdir().expect("target");
        let archive = zip_of(&[("a.txt", b"0123456789"), ("b.txt", b"0123456789")]);
        let result = extract(archive.path(), target.path(), 100, 15);
        assert!(
            matches!(result, Err(ArchiveError::TooLarge { limit: 15 })),
            "{result:?}"
        );
        let result = extract(archive.path(), target.path(), 1, 100);
        assert!(
            matches!(result, Err(ArchiveError::TooManyFiles { limit: 1 })),
            "{result:?}"
        );
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        fs_err::write(file.path(), b"not a zip").expect("write");
        let (_, result) = extract_into(file.path());
        assert!(
            matches!(result, Err(ArchiveError::Corrupt { .. })),
            "{result:?}"
        );
    }
}
