//! A guest's stdout and stderr, turned into log lines tagged with the
//! component and the request they came from.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept whole; a longer one is logged in pieces so that a guest
/// writing without newlines cannot grow the host's memory.
const MAX_LINE: usize = 16 * 1024;

#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone)]
pub struct GuestLog {
    component: Arc<str>,
    request_id: Arc<str>,
    stream: Stream,
}

impl GuestLog {
    pub fn new(component: Arc<str>, request_id: Arc<str>, stream: Stream) -> Self {
        Self {
            component,
            request_id,
            stream,
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return;
        }
        match self.stream {
            Stream::Stdout => tracing::info!(
                target: "guest",
                component = %self.component,
                request_id = %self.request_id,
                stream = "stdout",
                "{line}"
            ),
            Stream::Stderr => tracing::warn!(
                target: "guest",
                component = %self.component,
                request_id = %self.request_id,
                stream = "stderr",
                "{line}"
            ),
        }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            log: self.clone(),
            buffer: Vec::new(),
        })
    }
}

struct LineWriter {
    log: GuestLog,
    buffer: Vec<u8>,
}

impl LineWriter {
    fn emit_complete_lines(&mut self) {
        while let Some(newline) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=newline).collect();
            self.log.emit(&line);
        }
        if self.buffer.len() >= MAX_LINE {
            let piece = std::mem::take(&mut self.buffer);
            self.log.emit(&piece);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.buffer.extend_from_slice(buf);
        self.emit_complete_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let rest = std::mem::take(&mut self.buffer);
        self.log.emit(&rest);
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    // A guest that ends without a final newline still has its last words logged.
    fn drop(&mut self) {
        let rest = std::mem::take(&mut self.buffer);
        self.log.emit(&rest);
    }
}
