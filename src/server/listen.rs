//! Connections: accepted up to a limit, each watched so that a client that sends
//! nothing, sends its request head a byte at a time, or stops reading the response is
//! disconnected instead of holding a connection (and a task) forever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::tls::Certificates;

/// How long connections may wait and how many there may be. The defaults are in
/// `docs/server.md`.
#[derive(Debug, Clone, Copy)]
pub struct Connections {
    /// From a request's first byte to the end of its head.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request: after it opens, and
    /// between the requests of a kept-alive connection. Also how long the server
    /// waits for a client that stopped reading its response.
    pub idle_timeout: Duration,
    /// Connections open at once; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Connections {
    fn default() -> Connections {
        Connections {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets
/// requests in progress finish, and returns once every connection has closed (or
/// after `idle_timeout` more).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Connections,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_tls(listener, app, limits, None, shutdown).await
}

/// [`serve`], over TLS with `tls`'s certificate when given: the handshake has the
/// request head's timeout.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    limits: Connections,
    tls: Option<Arc<Certificates>>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.map_err(io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait, do not spin or stop.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stopping = stopping.clone();
        let acceptor = tls.as_ref().map(|tls| tls.acceptor());
        tokio::spawn(async move {
            match acceptor {
                None => connection(stream, app, limits, &mut stopping).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(limits.header_timeout, handshake).await {
                        Ok(Ok(stream)) => connection(stream, app, limits, &mut stopping).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.idle_timeout, slots.acquire_many(all)).await;
    Ok(())
}

async fn connection<S>(
    stream: S,
    app: Router,
    limits: Connections,
    stopping: &mut watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let phase = Arc::new(Phase::new());
    let io = TokioIo::new(Watched::new(stream, phase.clone(), limits));
    let service = hyper::service::service_fn(move |request| {
        phase.set(State::Busy);
        let (app, phase) = (app.clone(), phase.clone());
        async move {
            let response = app.oneshot(request).await;
            phase.set(State::Idle);
            response
        }
    });
    let builder = hyper::server::conn::http1::Builder::new();
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stopping.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection closed: {e}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No request in progress: waiting for one.
    Idle,
    /// A request's head has started to arrive.
    Head,
    /// A request is being handled (its body, if any, is read under the server's own
    /// body timeout).
    Busy,
}

/// Where a connection is in its request cycle, and since when; shared by the
/// connection's stream and its service, under one lock.
struct Phase(Mutex<PhaseState>);

struct PhaseState {
    state: State,
    since: Instant,
    /// A read left pending while the connection was busy, with no deadline: woken
    /// when the request is done, so that the idle deadline starts to count.
    reader: Option<Waker>,
}

impl Phase {
    fn new() -> Phase {
        Phase(Mutex::new(PhaseState {
            state: State::Idle,
            since: Instant::now(),
            reader: None,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PhaseState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, state: State) {
        let reader = {
            let mut phase = self.lock();
            phase.state = state;
            phase.since = Instant::now();
            if state == State::Idle {
                phase.reader.take()
            } else {
                None
            }
        };
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// Bytes arrived: on an idle connection, a request's head has begun.
    fn bytes_read(&self) {
        let mut phase = self.lock();
        if phase.state == State::Idle {
            phase.state = State::Head;
            phase.since = Instant::now();
        }
    }

    /// When a read waiting now must give up; none while a request runs, and then the
    /// reader is woken once it is done.
    fn read_deadline(&self, limits: &Connections, waker: &Waker) -> Option<Instant> {
        let mut phase = self.lock();
        match phase.state {
            State::Idle => Some(phase.since + limits.idle_timeout),
            State::Head => Some(phase.since + limits.header_timeout),
            State::Busy => {
                phase.reader = Some(waker.clone());
                None
            }
        }
    }
}

/// A TCP stream whose reads and writes fail with `TimedOut` once the connection has
/// waited past the deadline of its phase.
struct Watched<S = TcpStream> {
    stream: S,
    phase: Arc<Phase>,
    limits: Connections,
    reading: Pin<Box<Sleep>>,
    writing: Pin<Box<Sleep>>,
    /// When a write first found the client not reading.
    write_blocked: Option<Instant>,
}

impl<S> Watched<S> {
    fn new(stream: S, phase: Arc<Phase>, limits: Connections) -> Watched<S> {
        Watched {
            stream,
            phase,
            limits,
            reading: Box::pin(tokio::time::sleep(Duration::ZERO)),
            writing: Box::pin(tokio::time::sleep(Duration::ZERO)),
            write_blocked: None,
        }
    }
}

/// Pending until `deadline`, then the error that closes the connection.
fn wait_until(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    cx: &mut Context<'_>,
) -> Poll<io::Error> {
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer
        .as_mut()
        .poll(cx)
        .map(|()| io::Error::new(io::ErrorKind::TimedOut, "the client was too slow"))
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.phase.bytes_read();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.phase.read_deadline(&self.limits, cx.waker()) {
                Some(deadline) => wait_until(&mut self.reading, deadline, cx).map(Err),
                None => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(result) => {
                self.write_blocked = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let blocked = *self.write_blocked.get_or_insert_with(Instant::now);
                let deadline = blocked + self.limits.idle_timeout;
                wait_until(&mut self.writing, deadline, cx).map(Err)
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits() -> Connections {
        Connections {
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(200),
            max_connections: 1,
        }
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped() {
        let (server, _client) = tokio::io::duplex(1024);
        let mut watched = Watched::new(server, Arc::new(Phase::new()), limits());
        let response = vec![b'x'; 64 << 10];
        let error = watched.write_all(&response).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_head_must_arrive_whole_and_a_busy_connection_waits() {
        let (server, mut client) = tokio::io::duplex(1024);
        let phase = Arc::new(Phase::new());
        let mut watched = Watched::new(server, phase.clone(), limits());
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut buffer = [0u8; 64];
        assert!(watched.read(&mut buffer).await.unwrap() > 0);
        let error = watched.read(&mut buffer).await.unwrap_err();
        assert_eq!(
            error.kind(),
            io::ErrorKind::TimedOut,
            "the rest of the head never came"
        );

        let (server, mut client) = tokio::io::duplex(1024);
        let phase = Arc::new(Phase::new());
        phase.set(State::Busy);
        let mut watched = Watched::new(server, phase.clone(), limits());
        let reader = tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            watched.read(&mut buffer).await
        });
        // Busy for longer than both deadlines: no timeout while the request runs.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!reader.is_finished());
        phase.set(State::Idle);
        let error = reader.await.unwrap().unwrap_err();
        assert_eq!(
            error.kind(),
            io::ErrorKind::TimedOut,
            "idle once the request is done"
        );
        drop(client.shutdown().await);
    }
}
