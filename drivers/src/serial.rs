//! A serial device (or one side of a pseudo-terminal) opened non-blocking in
//! raw mode, readable and writable as a byte stream and registrable with mio.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::fs::{Mode, OFlags};
use rustix::termios::{self, OptionalActions};

/// A non-blocking raw-mode character device.
#[derive(Debug)]
pub struct SerialPort {
    fd: OwnedFd,
}

impl SerialPort {
    /// Opens the device at `path` non-blocking (without making it the
    /// controlling terminal) and sets raw mode at `baud` bits per second.
    pub fn open(path: &Path, baud: u32) -> io::Result<SerialPort> {
        let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())?;
        SerialPort::from_fd(fd, Some(baud))
    }

    /// Wraps an already open terminal `fd` (e.g. a pseudo-terminal master):
    /// switches it to non-blocking raw mode, at `baud` if given.
    pub fn from_fd(fd: OwnedFd, baud: Option<u32>) -> io::Result<SerialPort> {
        let mut tio = termios::tcgetattr(&fd)?;
        tio.make_raw();
        if let Some(baud) = baud {
            tio.set_speed(baud)?;
        }
        termios::tcsetattr(&fd, OptionalActions::Now, &tio)?;
        let fl = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, fl | OFlags::NONBLOCK)?;
        Ok(SerialPort { fd })
    }
}

impl Read for SerialPort {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::io::read(&self.fd, buf)?)
    }
}

impl Write for SerialPort {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::io::write(&self.fd, buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for SerialPort {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Source for SerialPort {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).deregister(registry)
    }
}

/// Opens a pseudo-terminal pair for tests and tools: the master side wrapped
/// as a [`SerialPort`] and the path of the slave device.
pub fn open_pty() -> io::Result<(SerialPort, std::path::PathBuf)> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let path = std::path::PathBuf::from(std::ffi::OsString::from_vec(name.into_bytes()));
    Ok((SerialPort::from_fd(master, None)?, path))
}
