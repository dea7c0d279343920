//! The check of a project's `requirements.txt` before pip reads it on the host.
//!
//! A requirements file is more than a list of packages: pip also obeys options in it
//! (`-r FILE`, `-c FILE`, `--index-url`, `--find-links`, `-e`), direct references
//! (`name @ URL`, paths) and `${VARIABLE}` expansion. On the host, as the platform's user,
//! those would read the machine's files (`-r /etc/shadow` prints its lines in pip's
//! error), fetch from any address the machine reaches, and expand the host's variables
//! (the index's credentials). So only plain requirements pass, from the configured index:
//! `name[extras] <specifiers> ; <markers>`, with `--hash` and a few harmless options.
//! Wheels from anywhere else go into `vendor/`, which the build installs offline.

/// Options that only tune the choice among the index's files.
const ALLOWED_OPTIONS: [&str; 4] = ["--hash", "--require-hashes", "--pre", "--prefer-binary"];

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    /// 1-based, of the line the refused text starts on.
    pub(crate) line: usize,
    pub(crate) text: String,
    pub(crate) reason: &'static str,
}

/// `Ok` when every line of `text` is a plain requirement, an allowed option or a comment.
pub(crate) fn check(text: &str) -> Result<(), Refused> {
    // pip skips a byte order mark (Windows editors write one), so must we.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (line, logical) in logical_lines(text) {
        let refuse = |reason| Refused {
            line,
            text: logical.trim().to_owned(),
            reason,
        };
        let content = strip_comment(&logical).trim();
        if content.is_empty() {
            continue;
        }
        if content.contains("${") {
            return Err(refuse(
                "pip would put the host's environment variables there",
            ));
        }
        let mut tokens = content.split_whitespace().peekable();
        if !content.starts_with('-') {
            let requirement: Vec<&str> =
                std::iter::from_fn(|| tokens.next_if(|token| !token.starts_with('-'))).collect();
            check_requirement(&requirement.join(" ")).map_err(refuse)?;
        }
        for token in tokens {
            let option = token.split('=').next().unwrap_or(token);
            if token.starts_with('-') && !ALLOWED_OPTIONS.contains(&option) {
                return Err(refuse(
                    "options that read files or choose other sources are not followed on the host",
                ));
            }
        }
    }
    Ok(())
}

/// A PEP 508 requirement by name: the name, then extras, specifiers and markers, but no
/// URL or path.
fn check_requirement(requirement: &str) -> Result<(), &'static str> {
    let name_end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(requirement.len());
    let (name, rest) = requirement.split_at(name_end);
    let rest = rest.trim_start();
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || is_archive(name)
        || rest.starts_with('/')
        || rest.starts_with(':')
    {
        return Err("a requirement must name a package (a path or URL is not fetched on the host)");
    }
    if rest.contains('@') || rest.contains("://") {
        return Err("direct references (`name @ URL`) are not fetched on the host");
    }
    Ok(())
}

/// A file name pip would look for in its working directory.
fn is_archive(name: &str) -> bool {
    std::path::Path::new(name).extension().is_some_and(|ext| {
        ["whl", "zip", "gz", "bz2", "tar"]
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// The file's lines with `\` continuations joined, each with its first line's number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let (start, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        if let Some(continued) = line.strip_suffix('\\') {
            joined.push_str(continued);
            current = Some((start, joined));
        } else {
            joined.push_str(line);
            lines.push((start, joined));
        }
    }
    lines.extend(current);
    lines
}

/// pip's rule: `#` starts a comment at the line's start or after whitespace.
fn strip_comment(line: &str) -> &str {
    let mut previous_blank = true;
    for (index, c) in line.char_indices() {
        if c == '#' && previous_blank {
            return &line[..index];
        }
        previous_blank = c.is_whitespace();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_requirements_hashes_and_comments_pass() {
        let text = "# pinned\nnumpy==2.1.0 --hash=sha256:abc \\\n    --hash=sha256:def\n\
                    requests[socks]>=2.0,<3 ; python_version >= \"3.8\"  # inline\n\
                    --require-hashes\n--prefer-binary\nzope.interface~=6.0\n\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn files_from_windows_editors_pass() {
        let text = "\u{feff}# deps\r\nsix==1.16.0 \\\r\n  ; python_version >= \"3\"\r\n\r\n";
        assert_eq!(check(text), Ok(()));
        let refused = check("\u{feff}-r /etc/shadow\r\n").expect_err("refused");
        assert_eq!((refused.line, refused.text.as_str()), (1, "-r /etc/shadow"));
    }

    #[test]
    fn options_that_read_files_or_choose_sources_are_refused_with_their_line() {
        for (text, refused) in [
            ("numpy\n-r /etc/shadow\n", "-r /etc/shadow"),
            ("--requirement=/etc/shadow", "--requirement=/etc/shadow"),
            ("-c /root/constraints.txt", "-c /root/constraints.txt"),
            ("-e ./local", "-e ./local"),
            (
                "--index-url http://169.254.169.254/",
                "--index-url http://169.254.169.254/",
            ),
            ("-i http://10.0.0.1/simple", "-i http://10.0.0.1/simple"),
            ("--extra-index-url http://x/", "--extra-index-url http://x/"),
            ("-f /root/wheels", "-f /root/wheels"),
            ("--find-links=file:///root", "--find-links=file:///root"),
            ("--trusted-host evil", "--trusted-host evil"),
            ("numpy -r /etc/shadow", "numpy -r /etc/shadow"),
        ] {
            let error = check(text).expect_err(text);
            assert_eq!(error.text, refused);
        }
        assert_eq!(check("numpy\n\n-r x").expect_err("refused").line, 3);
        assert_eq!(check("numpy \\\n -r x").expect_err("refused").line, 1);
    }

    #[test]
    fn urls_paths_and_variables_are_refused() {
        for text in [
            "pkg @ https://example.com/pkg.whl",
            "pkg@file:///root/secret.whl",
            "https://example.com/pkg-1.0-py3-none-any.whl",
            "./dist/pkg-1.0-py3-none-any.whl",
            "/root/pkg-1.0-py3-none-any.whl",
            "pkg-1.0-py3-none-any.whl",
            "git+https://example.com/repo.git",
            "numpy==${PIP_INDEX_URL}",
        ] {
            assert!(check(text).is_err(), "{text}");
        }
    }
}
