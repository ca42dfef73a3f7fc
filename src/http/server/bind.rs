//! Where a server listens: binding and listening (one `SO_REUSEPORT`
//! listener per worker, or one Unix socket shared by them), the Unix socket
//! file's permissions and removal, and the file-descriptor table grown
//! before the first connection.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::worker::Listener;
use super::{Bind, Server};

impl Server {
    /// Binds and listens: a listener per worker (each its own `SO_REUSEPORT`
    /// socket on TCP; clones of one socket on a Unix path).
    pub(super) fn listen(&self) -> io::Result<Bound> {
        match &self.bind {
            Bind::Tcp(addr) => {
                let addrs: Vec<SocketAddr> = addr
                    .to_socket_addrs()
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {addr:?}: {e}")))?
                    .collect();
                let first = *addrs
                    .first()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr:?}: no address")))?;
                let reuse = self.workers > 1;
                let backlog = self.limits.listen_backlog;
                let l0 = bind_tcp(first, reuse, backlog)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {first}: {e}")))?;
                // Port 0 picked a port: the other workers bind that one.
                let actual = l0.local_addr()?;
                let mut out = vec![Listener::Tcp(l0)];
                for _ in 1..self.workers {
                    out.push(Listener::Tcp(bind_tcp(actual, true, backlog)?));
                }
                Ok(Bound { listeners: out, local_addr: Some(actual), socket_file: None })
            }
            Bind::Unix(path) => {
                remove_stale_socket(path)?;
                let (l, file) = bind_unix(path, self.unix_mode, self.limits.listen_backlog)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
                let mut out = Vec::new();
                for _ in 1..self.workers {
                    out.push(Listener::Unix(l.try_clone()?));
                }
                out.push(Listener::Unix(l));
                Ok(Bound { listeners: out, local_addr: None, socket_file: Some(Arc::new(file)) })
            }
        }
    }
}

/// Binds a plain std TCP listener with `SO_REUSEADDR`, optionally
/// `SO_REUSEPORT` (several workers' listeners share the port and the kernel
/// spreads connections among them), and a listen `backlog` (the kernel caps
/// it at `net.core.somaxconn`). Each worker adopts one on its own loop.
fn bind_tcp(addr: SocketAddr, reuse_port: bool, backlog: u32) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}

/// Grows this process's file-descriptor table once, now, to hold `wanted`
/// descriptors (capped by `RLIMIT_NOFILE`).
///
/// The kernel grows the table by doubling when a new descriptor does not fit,
/// and in a multi-threaded process each growth waits for an RCU grace period
/// (tens of milliseconds on an idle machine). Met in the middle of a burst of
/// connections at 256, 512, ... 8192 descriptors, those waits stalled the
/// accept loop long enough to overflow the listen backlog. Growing it at
/// start-up moves the cost where nobody waits. The table never shrinks; it
/// costs 8 bytes of kernel memory per slot.
pub(super) fn reserve_fd_table(wanted: usize) {
    let Some(limit) = crate::sys::open_files_limit() else { return };
    let target = (wanted as u64).min(limit).min(1 << 20);
    if target < 256 {
        return;
    }
    crate::sys::grow_fd_table(target);
}

/// What [`Server::listen`] made: a listener per worker, the TCP address,
/// and the Unix socket file to remove when the server stops.
pub(super) struct Bound {
    pub(super) listeners: Vec<Listener>,
    pub(super) local_addr: Option<SocketAddr>,
    pub(super) socket_file: Option<Arc<SocketFile>>,
}

/// Binds a listening Unix socket at `path`, with permission bits `mode`
/// set between bind and listen: until listen, nobody can connect, so no
/// connection is made under the umask's permissions.
fn bind_unix(
    path: &Path,
    mode: Option<u32>,
    backlog: u32,
) -> io::Result<(std::os::unix::net::UnixListener, SocketFile)> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    // From here on the file is ours: dropping this removes it if we fail.
    let file = SocketFile::new(path)?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok((socket.into(), file))
}

/// The socket file a Unix-socket server created: removed when dropped (when
/// the server has stopped), unless another file has replaced it meanwhile
/// (a newer server's, which is not ours to remove).
pub(super) struct SocketFile {
    path: PathBuf,
    /// Device and inode of the file we created.
    id: (u64, u64),
}

impl SocketFile {
    fn new(path: &Path) -> io::Result<SocketFile> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path)?;
        Ok(SocketFile { path: path.to_owned(), id: (m.dev(), m.ino()) })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another server is listening there", path.display()),
                ));
            }
            std::fs::remove_file(path)
        }
        Ok(_) => {
            Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{}: exists and is not a socket", path.display())))
        }
        Err(_) => Ok(()),
    }
}
