//! Gives the HTTP parser's own error answers OpenAI's error body.
//!
//! When hyper cannot parse a request head — garbage (400), a URL too long
//! (414), too many or too large header fields (431) — it answers by itself,
//! before any handler runs, with an empty body. OpenAI clients then raise
//! an error with no message. This wrapper around a connection's socket
//! watches what is written: an error answer that consists of a head only
//! with `content-length: 0` (every answer of ours has a JSON body, so only
//! the parser's match) is sent with an `{"error": {...}}` body instead.

use serde_json::json;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose body-less error answers get a JSON body.
pub struct JsonErrorBodies<T> {
    inner: T,
    /// A rewritten answer still being written, and how much of it went.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonErrorBodies<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        JsonErrorBodies {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonErrorBodies<T> {
    /// Writes what is left of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorBodies<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorBodies<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(answer) = with_json_body(buf) {
            // Taken whole; written by this call as far as the socket
            // allows and by the next write, flush or shutdown.
            self.pending = answer;
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// If `buf` is exactly one HTTP/1 error answer (status 400-599) with an
/// empty body, the same answer with a JSON error body; else `None`.
fn with_json_body(buf: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(buf).ok()?;
    let head = head.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") || !head.starts_with("HTTP/1.") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let (_, code, reason) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    let code: u16 = code.parse().ok()?;
    if !(400..600).contains(&code) {
        return None;
    }
    let mut empty = false;
    let mut kept = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-length" => empty = value.trim() == "0",
            "content-type" | "transfer-encoding" => return None,
            _ => kept.push(line),
        }
    }
    if !empty {
        return None;
    }
    let (message, err_code) = explain(code, reason);
    let kind = if code < 500 {
        "invalid_request_error"
    } else {
        "server_error"
    };
    let body = json!({"error": {
        "message": message,
        "type": kind,
        "param": null,
        "code": err_code,
    }})
    .to_string();
    let mut out = String::with_capacity(head.len() + body.len() + 64);
    out.push_str(status_line);
    out.push_str("\r\n");
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("content-type: application/json\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    out.push_str(&body);
    Some(out.into_bytes())
}

/// A message and code for the statuses the parser answers by itself.
fn explain(code: u16, reason: &str) -> (String, Option<&'static str>) {
    match code {
        400 => (
            "the request is not valid HTTP/1.1 (request line or a header field could not be \
             parsed)"
                .into(),
            Some("bad_request"),
        ),
        414 => (
            "the URL is longer than this server accepts; requests go in the body (POST)".into(),
            Some("uri_too_long"),
        ),
        431 => (
            "the request head is larger than this server accepts (too many header fields, or \
             too many bytes)"
                .into(),
            Some("headers_too_large"),
        ),
        _ => (format!("{code} {reason}"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_431_gets_a_json_body_and_keeps_its_other_fields() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\
                     content-length: 0\r\ndate: Fri, 04 Dec 2026 15:19:55 GMT\r\n\r\n";
        let out = String::from_utf8(with_json_body(head).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("connection: close\r\n"));
        assert!(head.contains("date: Fri"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "headers_too_large");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn answers_with_bodies_or_success_pass_untouched() {
        for buf in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"data: {\"x\": 1}\r\n\r\n",
        ] {
            assert!(with_json_body(buf).is_none(), "{}", String::from_utf8_lossy(buf));
        }
    }
}
