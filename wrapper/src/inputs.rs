//! Finds the two inputs (contract: files win over variables), checks their size and
//! decodes base64, and hands each to the Python child as an open file descriptor.
//!
//! The runner never holds an input in memory: a raw JSON file is passed as the open
//! file itself, decoded base64 goes into a sealed in-memory file (`memfd`).

use crate::config::Config;
use base64::Engine;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The two inputs of a job, in the contract's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputName {
    Data,
    Params,
}

impl InputName {
    pub(crate) const ALL: [InputName; 2] = [InputName::Data, InputName::Params];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InputName::Data => "data",
            InputName::Params => "params",
        }
    }

    fn variable(self) -> &'static str {
        match self {
            InputName::Data => "DATA_VALUE",
            InputName::Params => "PARAMS_VALUE",
        }
    }
}

/// An input ready for the child: an open file holding JSON text, or nothing (`{}`).
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) name: InputName,
    /// Where it came from, for messages: a path or a variable name.
    pub(crate) source: String,
    pub(crate) file: Option<File>,
}

#[derive(Debug)]
pub(crate) enum InputError {
    Unreadable {
        name: InputName,
        source: String,
        error: std::io::Error,
    },
    NotAFile {
        name: InputName,
        source: String,
    },
    TooLarge {
        name: InputName,
        source: String,
        limit: u64,
    },
    InvalidBase64 {
        name: InputName,
        source: String,
        fault: String,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Unreadable {
                name,
                source,
                error,
            } => write!(
                f,
                "input '{}' from {source} cannot be read: {error}; make it a readable file",
                name.as_str()
            ),
            InputError::NotAFile { name, source } => write!(
                f,
                "input '{}': {source} is not a regular file; expected a JSON file there (or nothing)",
                name.as_str()
            ),
            InputError::TooLarge {
                name,
                source,
                limit,
            } => write!(
                f,
                "input '{}' from {source} is larger than JOBWRAP_MAX_INPUT_BYTES={limit} bytes \
                 (after decoding); send less data or raise the limit",
                name.as_str()
            ),
            InputError::InvalidBase64 {
                name,
                source,
                fault,
            } => write!(
                f,
                "input '{}' from {source} is not valid base64: {fault}; expected standard base64 \
                 of a JSON document (set BASE64_ENCODED=false for raw JSON)",
                name.as_str()
            ),
        }
    }
}

/// Resolves one input following the contract's table.
pub(crate) fn resolve(
    name: InputName,
    config: &Config,
    lookup: &impl Fn(&str) -> Option<OsString>,
) -> Result<Input, InputError> {
    for path in candidate_paths(&config.input_dir, name) {
        let source = path.display().to_string();
        // Non-blocking, so that a FIFO planted there cannot stall the runner at open.
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        {
            Ok(file) => file,
            Err(error) if is_absent(&error) => continue,
            Err(error) => {
                return Err(InputError::Unreadable {
                    name,
                    source,
                    error,
                });
            }
        };
        let metadata = file.metadata().map_err(|error| InputError::Unreadable {
            name,
            source: source.clone(),
            error,
        })?;
        if !metadata.file_type().is_file() {
            return Err(InputError::NotAFile { name, source });
        }
        clear_nonblocking(&file).map_err(|error| InputError::Unreadable {
            name,
            source: source.clone(),
            error,
        })?;
        return if config.base64_encoded == Some(true) {
            decode_to_memfd(name, source, file, config.max_input_bytes)
        } else if metadata.len() > config.max_input_bytes {
            Err(InputError::TooLarge {
                name,
                source,
                limit: config.max_input_bytes,
            })
        } else {
            Ok(Input {
                name,
                source,
                file: Some(file),
            })
        };
    }

    let Some(value) = lookup(name.variable()) else {
        return Ok(Input {
            name,
            source: "nothing (no file, no variable)".into(),
            file: None,
        });
    };
    let source = format!("the variable {}", name.variable());
    let bytes = std::os::unix::ffi::OsStringExt::into_vec(value);
    if config.base64_encoded == Some(false) {
        let limit = config.max_input_bytes;
        if bytes.len() as u64 > limit {
            return Err(InputError::TooLarge {
                name,
                source,
                limit,
            });
        }
        let mut file = memfd(name, &source)?;
        file.write_all(&bytes)
            .map_err(|error| InputError::Unreadable {
                name,
                source: source.clone(),
                error,
            })?;
        seal(name, source, file)
    } else {
        decode_to_memfd(name, source, bytes.as_slice(), config.max_input_bytes)
    }
}

/// The child reads the file with ordinary blocking reads.
fn clear_nonblocking(file: &File) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(file, FcntlArg::F_GETFL)?);
    fcntl(file, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(())
}

fn candidate_paths(input_dir: &Path, name: InputName) -> [PathBuf; 2] {
    let file = format!("{}.json", name.as_str());
    [
        input_dir.join(name.as_str()).join(&file),
        input_dir.join(&file),
    ]
}

fn is_absent(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

fn memfd(name: InputName, source: &str) -> Result<File, InputError> {
    nix::sys::memfd::memfd_create(
        c"jobwrap-input",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC | nix::sys::memfd::MFdFlags::MFD_ALLOW_SEALING,
    )
    .map(File::from)
    .map_err(|errno| InputError::Unreadable {
        name,
        source: source.to_owned(),
        error: errno.into(),
    })
}

/// Rewinds and seals the in-memory file so the child can read it but nobody can change it.
fn seal(name: InputName, source: String, mut file: File) -> Result<Input, InputError> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use std::io::Seek;
    let sealed = fcntl(
        &file,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_SEAL,
        ),
    );
    if let Err(errno) = sealed.map(drop).and_then(|()| {
        file.rewind()
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
    }) {
        return Err(InputError::Unreadable {
            name,
            source,
            error: errno.into(),
        });
    }
    Ok(Input {
        name,
        source,
        file: Some(file),
    })
}

/// Streams base64 text (ASCII whitespace allowed anywhere) into a sealed memfd.
fn decode_to_memfd(
    name: InputName,
    source: String,
    mut reader: impl Read,
    limit: u64,
) -> Result<Input, InputError> {
    let mut file = memfd(name, &source)?;
    let io_error = |error| InputError::Unreadable {
        name,
        source: source.clone(),
        error,
    };
    let mut decoder = Base64Stream::default();
    let mut chunk = vec![0_u8; 256 * 1024];
    let mut plain = Vec::with_capacity(chunk.len());
    let mut written: u64 = 0;
    let mut finished = false;
    while !finished {
        let read = match reader.read(&mut chunk) {
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(io_error(error)),
        };
        plain.clear();
        // End of the text: what is still pending (and its padding) is decoded last.
        finished = read == 0;
        let step = if finished {
            decoder.finish(&mut plain)
        } else {
            decoder.feed(&chunk[..read], &mut plain)
        };
        step.map_err(|fault| InputError::InvalidBase64 {
            name,
            source: source.clone(),
            fault,
        })?;
        written += plain.len() as u64;
        if written > limit {
            return Err(InputError::TooLarge {
                name,
                source,
                limit,
            });
        }
        file.write_all(&plain).map_err(io_error)?;
    }
    seal(name, source, file)
}

/// Incremental base64 decoding that reports faults with their offset in the original text.
#[derive(Default)]
struct Base64Stream {
    /// Significant characters not yet decoded (fewer than a full block).
    pending: Vec<u8>,
    /// Offset in the original text of the next byte fed.
    offset: u64,
    /// Offset of the first `=`; only whitespace and `=` may follow it.
    padding_at: Option<u64>,
}

impl Base64Stream {
    const BLOCK: usize = 4 * 16 * 1024;

    fn feed(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        for &byte in text {
            let offset = self.offset;
            self.offset += 1;
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => continue,
                b'=' => {
                    self.padding_at.get_or_insert(offset);
                }
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => {
                    if let Some(at) = self.padding_at {
                        return Err(format!(
                            "data continues at byte {offset} after the padding '=' at byte {at}"
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "invalid character {} at byte {offset}",
                        describe_byte(byte)
                    ));
                }
            }
            self.pending.push(byte);
            if self.pending.len() >= Self::BLOCK && self.padding_at.is_none() {
                self.flush(out)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let whole = self.pending.len() / 4 * 4;
        decode_into(&self.pending[..whole], out)?;
        self.pending.drain(..whole);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let padded = self.pending.len();
        while self.pending.last() == Some(&b'=') {
            self.pending.pop();
        }
        if padded != self.pending.len() && !padded.is_multiple_of(4) {
            return Err(format!(
                "the text ends after {padded} significant characters, which is not a multiple of 4"
            ));
        }
        if self.pending.len() % 4 == 1 {
            return Err("the text ends with a single dangling character".into());
        }
        decode_into(&self.pending, out)
    }
}

fn decode_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine
        .decode_vec(text, out)
        .map_err(|error| format!("{error}"))
}

fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Resolves `name` with `input_dir` and the given variables as the environment.
    fn resolve_with(
        name: InputName,
        input_dir: &Path,
        variables: &[(&str, &str)],
    ) -> Result<Input, InputError> {
        let mut map: HashMap<String, OsString> = variables
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        map.insert("JOBWRAP_INPUT_DIR".into(), input_dir.into());
        let lookup = |name: &str| map.get(name).cloned();
        let config = crate::config::load(lookup).expect("valid config");
        resolve(name, &config, &lookup)
    }

    fn contents(input: Input) -> String {
        let mut text = String::new();
        input
            .file
            .expect("an input file")
            .read_to_string(&mut text)
            .expect("readable");
        text
    }

    #[test]
    fn follows_the_contract_order_for_each_input_separately() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let variables = [("DATA_VALUE", "ImVudiI="), ("PARAMS_VALUE", "ImVudiI=")];
        // Nothing at all: `{}` (no file handed over).
        let input = resolve_with(InputName::Data, root, &[]).expect("resolves");
        assert!(input.file.is_none());
        // Only the variable: base64 decoded.
        let input = resolve_with(InputName::Data, root, &variables).expect("resolves");
        assert_eq!(input.source, "the variable DATA_VALUE");
        assert_eq!(contents(input), "\"env\"");
        // The flat file beats the variable, the template file beats the flat file.
        fs_err::write(root.join("data.json"), "\"flat\"").expect("write");
        let input = resolve_with(InputName::Data, root, &variables).expect("resolves");
        assert_eq!(contents(input), "\"flat\"");
        fs_err::create_dir(root.join("data")).expect("mkdir");
        fs_err::write(root.join("data/data.json"), "\"template\"").expect("write");
        let input = resolve_with(InputName::Data, root, &variables).expect("resolves");
        assert!(input.source.ends_with("data/data.json"), "{}", input.source);
        assert_eq!(contents(input), "\"template\"");
        // params is looked up on its own.
        let input = resolve_with(InputName::Params, root, &variables).expect("resolves");
        assert_eq!(input.source, "the variable PARAMS_VALUE");
    }

    #[test]
    fn base64_encoded_switches_the_encoding_of_files_and_variables() {
        let dir = tempfile::tempdir().expect("temp dir");
        let raw = [("BASE64_ENCODED", "false"), ("DATA_VALUE", "[1]")];
        let input = resolve_with(InputName::Data, dir.path(), &raw).expect("resolves");
        assert_eq!(contents(input), "[1]");
        fs_err::write(dir.path().join("data.json"), "WzJd\n").expect("write");
        let encoded = [("BASE64_ENCODED", "true")];
        let input = resolve_with(InputName::Data, dir.path(), &encoded).expect("resolves");
        assert_eq!(contents(input), "[2]");
    }

    #[test]
    fn decoded_inputs_are_sealed_against_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let input =
            resolve_with(InputName::Data, dir.path(), &[("DATA_VALUE", "e30=")]).expect("resolves");
        let mut file = input.file.expect("a memfd");
        assert!(file.write_all(b"tampered").is_err(), "the memfd is sealed");
    }

    #[test]
    fn refuses_folders_and_oversized_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs_err::create_dir_all(dir.path().join("params/params.json")).expect("mkdir");
        let error = resolve_with(InputName::Params, dir.path(), &[]).expect_err("a folder");
        assert!(matches!(error, InputError::NotAFile { .. }), "{error}");

        fs_err::write(dir.path().join("data.json"), "[1, 2, 3]").expect("write");
        let small = [("JOBWRAP_MAX_INPUT_BYTES", "8")];
        let error = resolve_with(InputName::Data, dir.path(), &small).expect_err("too large");
        assert!(
            matches!(error, InputError::TooLarge { limit: 8, .. }),
            "{error}"
        );
        let encoded = [("BASE64_ENCODED", "true")];
        let error = resolve_with(InputName::Data, dir.path(), &encoded).expect_err("not base64");
        assert!(
            error
                .to_string()
                .contains("invalid character '[' at byte 0"),
            "{error}"
        );
    }

    fn decode(text: &[u8]) -> Result<Vec<u8>, String> {
        let mut stream = Base64Stream::default();
        let mut out = Vec::new();
        // Feed in small pieces to exercise the block boundaries.
        for piece in text.chunks(3) {
            stream.feed(piece, &mut out)?;
        }
        stream.finish(&mut out)?;
        Ok(out)
    }

    /// A small deterministic generator, so a failing case can be replayed from its seed.
    struct Cases(u64);

    impl Cases {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            usize::try_from(self.next() % bound as u64).unwrap_or(0)
        }
    }

    /// Property: any bytes, encoded, wrapped with whitespace anywhere and fed in chunks of
    /// any size, decode to the same bytes.
    #[test]
    fn property_encoded_bytes_round_trip_whatever_the_wrapping_and_chunking() {
        let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
        for case in 0..2000 {
            let plain: Vec<u8> = (0..cases.below(300))
                .map(|_| cases.next().to_le_bytes()[0])
                .collect();
            let mut text = Vec::new();
            for byte in base64::engine::general_purpose::STANDARD
                .encode(&plain)
                .bytes()
            {
                if cases.below(8) == 0 {
                    text.push(b" \n\r\t"[cases.below(4)]);
                }
                text.push(byte);
            }
            let mut stream = Base64Stream::default();
            let mut out = Vec::new();
            let mut rest = text.as_slice();
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at((1 + cases.below(17)).min(rest.len()));
                stream.feed(piece, &mut out).expect("valid text feeds");
                rest = tail;
            }
            stream.finish(&mut out).expect("valid text finishes");
            assert_eq!(out, plain, "case {case}");
        }
    }

    /// Property: arbitrary bytes never panic the decoder; they decode or give a message.
    #[test]
    fn property_arbitrary_bytes_never_panic() {
        let mut cases = Cases(0x2545_f491_4f6c_dd1d);
        for _ in 0..5000 {
            let text: Vec<u8> = (0..cases.below(64))
                .map(|_| {
                    let alphabet = b"ABCxyz019+/=\n ";
                    if cases.below(4) == 0 {
                        cases.next().to_le_bytes()[0]
                    } else {
                        alphabet[cases.below(alphabet.len())]
                    }
                })
                .collect();
            let mut stream = Base64Stream::default();
            let mut out = Vec::new();
            if let Err(message) = stream
                .feed(&text, &mut out)
                .and_then(|()| stream.finish(&mut out))
            {
                assert!(!message.is_empty());
            }
        }
    }

    #[test]
    fn decodes_padded_unpadded_and_wrapped_text() {
        assert_eq!(decode(b"eyJhIjogMX0=").as_deref(), Ok(&b"{\"a\": 1}"[..]));
        assert_eq!(decode(b"eyJhIjogMX0").as_deref(), Ok(&b"{\"a\": 1}"[..]));
        assert_eq!(
            decode(b"eyJh\nIjog\r\nMX0=\n").as_deref(),
            Ok(&b"{\"a\": 1}"[..])
        );
        assert_eq!(decode(b"").as_deref(), Ok(&b""[..]));
    }

    #[test]
    fn decodes_long_text_across_blocks() {
        let plain: Vec<u8> = (0..300_000_u32).map(|i| (i % 251) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&plain);
        assert_eq!(decode(text.as_bytes()), Ok(plain));
    }

    #[test]
    fn reports_the_offset_of_a_bad_character() {
        let error = decode(b"eyJh*IjogMX0=").expect_err("'*' is not base64");
        assert_eq!(error, "invalid character '*' at byte 4");
        let error = decode(b"eyJh\xffIjog").expect_err("0xff is not base64");
        assert_eq!(error, "invalid character 0xff at byte 4");
        let error = decode(b"eyJhIjogMX0=eyJh").expect_err("data after padding");
        assert!(error.contains("after the padding"), "{error}");
        let error = decode(b"eyJhI").expect_err("dangling character");
        assert!(error.contains("dangling"), "{error}");
    }
}
