//! The private result channel between the runner and the shim: a Unix socket pair on
//! which the runner accepts bytes only from the shim's own process (the kernel tells the
//! sender's pid with every chunk), so a forked grandchild cannot forge the result.

use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, setsockopt,
    socketpair, sockopt,
};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd};

const MAGIC: &[u8; 4] = b"JWR1";
const HEADER_LEN: usize = 4 + 1 + 8;

/// What the shim reported.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// `R`: the result as JSON text.
    Result(Vec<u8>),
    /// `E`: an `ErrorResponse` as JSON text: the job failed with this result.
    ErrorResponse(Vec<u8>),
    /// `F`: a failure `{"kind", "message", "traceback"}` as JSON text.
    Failure(Vec<u8>),
}

/// What the runner read from the channel once every process of the job has ended.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) frame: Option<Frame>,
    /// The frame announced more bytes than the result limit allows.
    pub(crate) too_large: Option<u64>,
    /// Bytes dropped because another process than the shim sent them.
    pub(crate) foreign_bytes: u64,
    pub(crate) malformed: Option<String>,
}

/// Creates the pair: the runner's end (credentials on) and the child's end.
pub(crate) fn pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    setsockopt(&ours, sockopt::PassCred, &true)?;
    Ok((ours, theirs))
}

/// Reads until every holder of the other end has closed it. Accepts bytes only from
/// `shim_pid`; keeps at most `max_result` bytes of payload.
pub(crate) fn receive(socket: &OwnedFd, shim_pid: i32, max_result: u64) -> Received {
    let mut received = Received::default();
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = vec![0_u8; 256 * 1024];
    let limit = usize::try_from(max_result).unwrap_or(usize::MAX);
    loop {
        let mut space = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
        let mut iov = [IoSliceMut::new(&mut chunk)];
        let message = match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(message) => message,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(error) => {
                received.malformed = Some(format!("reading the result channel failed: {error}"));
                break;
            }
        };
        let length = message.bytes;
        if length == 0 {
            break;
        }
        let sender = message.cmsgs().ok().and_then(|mut cmsgs| {
            cmsgs.find_map(|cmsg| match cmsg {
                ControlMessageOwned::ScmCredentials(credentials) => Some(credentials.pid()),
                _ => None,
            })
        });
        if sender != Some(shim_pid) {
            received.foreign_bytes += length as u64;
            continue;
        }
        if received.frame.is_some() || received.too_large.is_some() {
            // First complete frame wins; anything after it is ignored.
            continue;
        }
        buffer.extend_from_slice(&chunk[..length]);
        match parse(&buffer, limit) {
            Parsed::Incomplete => {}
            Parsed::Frame(frame) => {
                received.frame = Some(frame);
                buffer = Vec::new();
            }
            Parsed::TooLarge(length) => {
                received.too_large = Some(length);
                buffer = Vec::new();
            }
            Parsed::Malformed(reason) => {
                received.malformed.get_or_insert(reason);
                buffer = Vec::new();
            }
        }
    }
    received
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Incomplete,
    Frame(Frame),
    TooLarge(u64),
    Malformed(String),
}

fn parse(buffer: &[u8], limit: usize) -> Parsed {
    if buffer.len() < HEADER_LEN {
        return if MAGIC.starts_with(&buffer[..buffer.len().min(4)]) {
            Parsed::Incomplete
        } else {
            Parsed::Malformed("the shim sent a frame without the magic".into())
        };
    }
    if &buffer[..4] != MAGIC {
        return Parsed::Malformed("the shim sent a frame without the magic".into());
    }
    let mut length_bytes = [0_u8; 8];
    length_bytes.copy_from_slice(&buffer[5..HEADER_LEN]);
    let length = u64::from_le_bytes(length_bytes);
    // A failure report may carry a traceback; allow it a little room over the limit.
    let allowed = if buffer[4] == b'F' {
        limit.saturating_add(1024 * 1024)
    } else {
        limit
    };
    if length > allowed as u64 {
        return Parsed::TooLarge(length);
    }
    let Ok(length) = usize::try_from(length) else {
        return Parsed::TooLarge(length);
    };
    if buffer.len() < HEADER_LEN + length {
        return Parsed::Incomplete;
    }
    let payload = buffer[HEADER_LEN..HEADER_LEN + length].to_vec();
    if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Parsed::Malformed("the shim sent a frame that is not JSON".into());
    }
    match buffer[4] {
        b'R' => Parsed::Frame(Frame::Result(payload)),
        b'E' => Parsed::Frame(Frame::ErrorResponse(payload)),
        b'F' => Parsed::Frame(Frame::Failure(payload)),
        other => Parsed::Malformed(format!("the shim sent an unknown frame kind {other:#04x}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn parses_each_kind_of_frame() {
        assert_eq!(
            parse(&frame(b'R', b"{\"a\":1}"), 100),
            Parsed::Frame(Frame::Result(b"{\"a\":1}".to_vec()))
        );
        assert_eq!(
            parse(&frame(b'E', b"{}"), 100),
            Parsed::Frame(Frame::ErrorResponse(b"{}".to_vec()))
        );
        assert_eq!(
            parse(&frame(b'F', b"{}"), 100),
            Parsed::Frame(Frame::Failure(b"{}".to_vec()))
        );
    }

    #[test]
    fn waits_for_the_whole_frame() {
        let bytes = frame(b'R', b"[1,2,3]");
        for cut in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut], 100),
                Parsed::Incomplete,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn refuses_oversized_and_malformed_frames() {
        assert_eq!(parse(&frame(b'R', b"[1,2,3]"), 3), Parsed::TooLarge(7));
        assert!(matches!(
            parse(b"XXXXXXXXXXXXXXXX", 100),
            Parsed::Malformed(_)
        ));
        assert!(matches!(
            parse(&frame(b'R', b"{oops"), 100),
            Parsed::Malformed(_)
        ));
        assert!(matches!(
            parse(&frame(b'Z', b"1"), 100),
            Parsed::Malformed(_)
        ));
    }

    #[test]
    fn accepts_only_the_named_sender() {
        let (ours, theirs) = pair().expect("socket pair");
        let bytes = frame(b'R', b"42");
        nix::unistd::write(&theirs, &bytes).expect("write");
        drop(theirs);
        let me = i32::try_from(std::process::id()).expect("pid fits");
        let received = receive(&ours, me, 100);
        assert_eq!(received.frame, Some(Frame::Result(b"42".to_vec())));

        let (ours, theirs) = pair().expect("socket pair");
        nix::unistd::write(&theirs, &bytes).expect("write");
        drop(theirs);
        let received = receive(&ours, me + 1, 100);
        assert_eq!(received.frame, None);
        assert_eq!(received.foreign_bytes, bytes.len() as u64);
    }
}
