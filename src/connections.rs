//! Connection limits of the HTTP listener: at most [`MAX_CONNECTIONS`] open connections (more
//! wait in the kernel's backlog, with a warning in the log), and a connection that neither
//! sends nor receives anything for [`IDLE_TIMEOUT`] is closed — a slow header read, an idle
//! keep-alive connection and an abandoned socket alike.

use std::future::Future as _;
use std::io::Result as IoResult;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// A connection without any traffic for this long is closed (headers that trickle in slower,
/// idle keep-alive connections).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Wraps an acceptor with the connection limit and the idle timeout.
pub struct LimitedAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    max: usize,
    idle: Duration,
    last_warning: Option<Instant>,
}

impl<A: Acceptor> LimitedAcceptor<A> {
    /// At most `max` connections, each closed after `idle` without traffic.
    pub fn new(inner: A, max: usize, idle: Duration) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max)),
            max,
            idle,
            last_warning: None,
        }
    }
}

impl<A: Acceptor> Acceptor for LimitedAcceptor<A> {
    type Io = LimitedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self
                    .last_warning
                    .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
                {
                    tracing::warn!(
                        max = self.max,
                        "connection limit reached: new connections wait until one closes"
                    );
                    self.last_warning = Some(Instant::now());
                }
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(std::io::Error::other)?
            }
        };
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let io = LimitedIo {
            inner: io,
            _permit: permit,
            idle: self.idle,
            deadline: Box::pin(tokio::time::sleep(self.idle)),
        };
        Ok((io, local, remote, scheme))
    }
}

/// A connection holding one permit of the limit, closed when idle.
pub struct LimitedIo<T> {
    inner: T,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<T> LimitedIo<T> {
    fn touch(&mut self) {
        self.deadline
            .as_mut()
            .reset(tokio::time::Instant::now() + self.idle);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LimitedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LimitedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
