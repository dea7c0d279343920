//! The app folder in the image must not be writable by the job: the run user shares the
//! build user's group (on Paketo's stacks and jobwrap's), and pack hands over the app
//! folder world-writable. Group and other write bits are removed from everything in it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Debug)]
pub(crate) enum AppPermissionsError {
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

pub(crate) fn restrict(app_dir: &Path) -> Result<(), AppPermissionsError> {
    restrict_entry(app_dir)
}

fn restrict_entry(path: &Path) -> Result<(), AppPermissionsError> {
    let io = |error| AppPermissionsError::Io {
        path: path.to_owned(),
        error,
    };
    let metadata = fs_err::symlink_metadata(path).map_err(io)?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    let mode = metadata.permissions().mode();
    if mode & 0o022 != 0 {
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o022))
            .map_err(io)?;
    }
    if metadata.is_dir() {
        for entry in fs_err::read_dir(path).map_err(io)? {
            restrict_entry(&entry.map_err(io)?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_group_and_other_write_everywhere() {
        let app = tempfile::tempdir().expect("temp dir");
        let src = app.path().join("src");
        fs_err::create_dir(&src).expect("src");
        fs_err::write(src.join("program.py"), "").expect("file");
        for path in [app.path(), src.as_path(), src.join("program.py").as_path()] {
            fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        restrict(app.path()).expect("restricts");
        for path in [app.path(), src.as_path(), src.join("program.py").as_path()] {
            let mode = fs_err::metadata(path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o755, "{}", path.display());
        }
    }
}
