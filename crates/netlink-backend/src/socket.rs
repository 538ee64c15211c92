//! One netlink socket (NETLINK_ROUTE; NETLINK_GENERIC for ethtool), bound to the namespace it
//! was opened in, that keeps many requests in flight.
//!
//! The kernel handles every message of one `send()` in order, in the sender's context, and queues
//! one acknowledgement per message; so a whole window of requests costs one system call out and a
//! few in, instead of two per request. Acknowledgements are matched by sequence number.

use std::io;
use std::os::fd::AsRawFd;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NETLINK_CAP_ACK: libc::c_int = 10;

/// Requests sent in one `send()`; their acknowledgements must fit the receive buffer.
const WINDOW: usize = 128;
const RECV_BUFFER: usize = 4 << 20;
const DUMP_RETRIES: usize = 5;
const REPLY_TIMEOUT_SECS: libc::time_t = 30;

/// What the kernel answered to a request that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelError {
    pub errno: i32,
    /// The extended-ack text, when the kernel gave one.
    pub message: Option<String>,
}

impl KernelError {
    pub fn describe(&self) -> String {
        let base = io::Error::from_raw_os_error(self.errno).to_string();
        match &self.message {
            Some(m) => format!("{base}: {m}"),
            None => base,
        }
    }
}

/// A message the kernel sent back: its type, flags and the bytes after the netlink header.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub ty: u16,
    pub payload: Vec<u8>,
}

/// An encoded request whose sequence number is filled in when it is sent.
pub(crate) type Request = Vec<u8>;

/// Replies to one request, or the error it ended with.
pub(crate) type Outcome = Result<Vec<Reply>, KernelError>;

pub(crate) struct NetlinkSocket {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl NetlinkSocket {
    /// Opens a NETLINK_ROUTE socket in the calling thread's network namespace, where it stays
    /// for its life.
    pub fn open() -> io::Result<NetlinkSocket> {
        NetlinkSocket::open_family(NlFamily::Route)
    }

    /// Opens a NETLINK_GENERIC socket (for ethtool) in the calling thread's namespace.
    pub fn open_generic() -> io::Result<NetlinkSocket> {
        NetlinkSocket::open_family(NlFamily::Generic)
    }

    fn open_family(family: NlFamily) -> io::Result<NetlinkSocket> {
        let sock = NlSocket::connect(family, None, Groups::empty())?;
        sock.enable_ext_ack(true)?;
        set_int_opt(&sock, libc::SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
        // SO_RCVBUFFORCE passes rmem_max for a privileged agent; fall back to what is allowed.
        if set_int_opt(
            &sock,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            RECV_BUFFER as libc::c_int,
        )
        .is_err()
        {
            sock.set_recv_buffer_size(RECV_BUFFER)?;
        }
        // The kernel answers every request; a reply that never comes must not hang the agent.
        let timeout = libc::timeval {
            tv_sec: REPLY_TIMEOUT_SECS,
            tv_usec: 0,
        };
        // SAFETY: the pointer and length describe a live timeval for the duration of the call.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &timeout as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NetlinkSocket {
            sock,
            seq: 1,
            buf: vec![0; 1 << 20],
        })
    }

    /// Opens a socket that receives the notifications of the given multicast groups.
    pub fn subscribe(groups: &[u32]) -> io::Result<NlSocket> {
        let sock = NlSocket::connect(NlFamily::Route, None, Groups::new_groups(groups))?;
        set_int_opt(
            &sock,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            RECV_BUFFER as libc::c_int,
        )
        .or_else(|_| sock.set_recv_buffer_size(RECV_BUFFER))?;
        Ok(sock)
    }

    /// The port id the kernel gave this socket.
    pub fn port_id(&self) -> io::Result<u32> {
        self.sock.pid()
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Sends every request (each must ask for an ack) and collects what came back for each,
    /// keeping up to a window of them in flight.
    pub fn transact(&mut self, requests: &mut [Request]) -> io::Result<Vec<Outcome>> {
        let mut outcomes = Vec::with_capacity(requests.len());
        for chunk in requests.chunks_mut(WINDOW) {
            let first = self.seq.wrapping_add(1);
            let mut out = Vec::new();
            let mut seqs = Vec::with_capacity(chunk.len());
            for req in chunk.iter_mut() {
                let seq = self.next_seq();
                req[8..12].copy_from_slice(&seq.to_ne_bytes());
                seqs.push(seq);
                out.extend_from_slice(req);
            }
            self.send_all(&out)?;
            let mut pending: Vec<Option<Outcome>> = vec![None; chunk.len()];
            let mut replies: Vec<Vec<Reply>> = vec![Vec::new(); chunk.len()];
            let mut left = chunk.len();
            while left > 0 {
                let n = self.recv()?;
                for msg in Messages::new(&self.buf[..n]) {
                    let msg = msg?;
                    let idx = msg.seq.wrapping_sub(first) as usize;
                    if idx >= chunk.len() || seqs[idx] != msg.seq || pending[idx].is_some() {
                        continue; // a late answer to an earlier, abandoned exchange
                    }
                    if msg.ty == NLMSG_ERROR {
                        let result = parse_error(msg.flags, msg.payload)?;
                        pending[idx] = Some(match result {
                            None => Ok(std::mem::take(&mut replies[idx])),
                            Some(err) => Err(err),
                        });
                        left -= 1;
                    } else {
                        replies[idx].push(Reply {
                            ty: msg.ty,
                            payload: msg.payload.to_vec(),
                        });
                    }
                }
            }
            outcomes.extend(pending.into_iter().map(|o| o.unwrap_or(Ok(Vec::new()))));
        }
        Ok(outcomes)
    }

    /// Runs one dump request to its end. A dump the kernel marks as interrupted (the table
    /// changed under it) is run again.
    pub fn dump(&mut self, request: &[u8]) -> io::Result<Outcome> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = request.to_vec();
            let seq = self.next_seq();
            req[8..12].copy_from_slice(&seq.to_ne_bytes());
            self.send_all(&req)?;
            let mut replies = Vec::new();
            let mut interrupted = false;
            let result = 'read: loop {
                let n = self.recv()?;
                for msg in Messages::new(&self.buf[..n]) {
                    let msg = msg?;
                    if msg.seq != seq {
                        continue;
                    }
                    interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
                    match msg.ty {
                        NLMSG_DONE => break 'read Ok(std::mem::take(&mut replies)),
                        NLMSG_ERROR => match parse_error(msg.flags, msg.payload)? {
                            None => break 'read Ok(std::mem::take(&mut replies)),
                            Some(err) => break 'read Err(err),
                        },
                        ty => replies.push(Reply {
                            ty,
                            payload: msg.payload.to_vec(),
                        }),
                    }
                }
            };
            if !interrupted || attempt >= DUMP_RETRIES {
                return Ok(result);
            }
        }
    }

    fn send_all(&self, bytes: &[u8]) -> io::Result<()> {
        loop {
            match self.sock.send(bytes, Msg::empty()) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            match self.sock.recv(&mut self.buf[..], Msg::empty()) {
                Ok((n, _)) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn set_int_opt(
    sock: &NlSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live c_int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One netlink message inside a received datagram.
pub(crate) struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    /// Port id of the sender; for a notification, of the socket whose request caused it.
    pub pid: u32,
    pub payload: &'a [u8],
}

/// Walks the messages of one datagram.
pub(crate) struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(bytes: &'a [u8]) -> Messages<'a> {
        Messages { rest: bytes }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = io::Result<Message<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len =
            u32::from_ne_bytes([self.rest[0], self.rest[1], self.rest[2], self.rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("netlink message of length {len}"),
            )));
        }
        let ty = u16::from_ne_bytes([self.rest[4], self.rest[5]]);
        let flags = u16::from_ne_bytes([self.rest[6], self.rest[7]]);
        let seq = u32::from_ne_bytes([self.rest[8], self.rest[9], self.rest[10], self.rest[11]]);
        let pid = u32::from_ne_bytes([self.rest[12], self.rest[13], self.rest[14], self.rest[15]]);
        let payload = &self.rest[NLMSG_HDRLEN..len];
        let advance = align(len).min(self.rest.len());
        self.rest = &self.rest[advance..];
        Some(Ok(Message {
            ty,
            flags,
            seq,
            pid,
            payload,
        }))
    }
}

pub(crate) fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Reads an NLMSG_ERROR payload: `None` for an ack, the error (with its extended-ack text)
/// otherwise.
fn parse_error(flags: u16, payload: &[u8]) -> io::Result<Option<KernelError>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short NLMSG_ERROR message");
    let code = i32::from_ne_bytes(
        payload
            .get(0..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    if code == 0 {
        return Ok(None);
    }
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        let echoed = payload.get(4..4 + NLMSG_HDRLEN).ok_or_else(bad)?;
        let echoed_len = if flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32::from_ne_bytes(echoed[0..4].try_into().map_err(|_| bad())?) as usize
        };
        let mut tlvs = payload.get(4 + align(echoed_len)..).unwrap_or(&[]);
        while tlvs.len() >= 4 {
            let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
            let ty = u16::from_ne_bytes([tlvs[2], tlvs[3]]);
            if len < 4 || len > tlvs.len() {
                break;
            }
            if ty == NLMSGERR_ATTR_MSG {
                let text = &tlvs[4..len];
                let text = text.split(|b| *b == 0).next().unwrap_or(&[]);
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
            tlvs = &tlvs[align(len).min(tlvs.len())..];
        }
    }
    Ok(Some(KernelError {
        errno: -code,
        message,
    }))
}
