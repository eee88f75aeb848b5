//! Connections to an appliance: TCP, through a proxy tunnel when one is
//! set, then TLS; and noticing that an idle one was closed.

use super::errors::{certificate_hint, wraps_rustls};
use super::proxy::tunnel;
use super::ApiClient;
use crate::error::CollectError;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP or TLS connection to an appliance (possibly through a proxy tunnel).
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// An idle connection must be silent: end of stream, an error or any
    /// unasked bytes (a TLS close_notify, a 408) mean the peer is done with it.
    pub(super) fn is_closed(&self) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        !matches!(self.tcp().poll_peek(&mut cx, &mut buf), Poll::Pending)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl ApiClient {
    /// A new connection: TCP (to the proxy, then `CONNECT` for HTTPS), then TLS.
    pub(super) async fn connect(&self, url: &str) -> Result<Stream, CollectError> {
        let ep = &self.endpoint;
        let proxy = self.transport.proxy.as_ref();
        let (host, port) = match proxy {
            Some(p) => (&*p.host, p.port),
            None => (&*ep.host, ep.port),
        };
        let mut tcp = TcpStream::connect((host, port)).await.map_err(|e| {
            CollectError::Connect(format!("{url}: connecting to {host}:{port}: {e}"))
        })?;
        let _ = tcp.set_nodelay(true);
        if !ep.tls {
            return Ok(Stream::Plain(tcp));
        }
        if let Some(p) = proxy {
            tunnel(&mut tcp, ep, p)
                .await
                .map_err(|e| CollectError::Connect(format!("{url}: proxy {host}:{port}: {e}")))?;
        }
        let tls = self
            .transport
            .tls
            .connect(ep.server_name.clone(), tcp)
            .await
            .map_err(|e| {
                if wraps_rustls(&e) {
                    match certificate_hint(&e) {
                        Some(hint) => CollectError::Tls(format!("{url}: {hint} ({e})")),
                        None => CollectError::Tls(format!("{url}: {e}")),
                    }
                } else {
                    CollectError::Connect(format!("{url}: during the TLS handshake: {e}"))
                }
            })?;
        let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
        if let Some(not_after) = leaf.and_then(|c| crate::tls::not_after(c)) {
            self.peer.set(not_after);
        }
        Ok(Stream::Tls(Box::new(tls)))
    }
}
